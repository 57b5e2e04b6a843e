"""The platform protocol: what a serverless platform tells the one wrapper builder.

Each adapter implements :class:`Platform` once (``LambdaPlatform``, ``HttpPlatform`` and
``CloudEventPlatform`` for Google Cloud, ``AzurePlatform``), and
:func:`skiff.adapters._builder.decorate` turns it into a bare-or-with-arguments decorator
whose sync or async wrapper runs each call as one reported flow run. Per call::

    call = platform.read(args, kwargs)        # the runtime's arguments -> Call (may raise)
    await platform.load(call)                 # async wrappers only: what needs awaiting
    trigger = platform.describe(call)         # trigger() + labels() + remaining()
    ... the flow run, its parameters from trigger (or the call, summarize()-d) ...
    platform.settle(call, drain)              # the reports land before the freeze

A platform object is made once per decorated function, at decoration time: its
``__init__`` checks the function and may raise :class:`~skiff.ValidationError` there.
Describing a call must not raise; if it does, the error is logged once and the call runs
with a bare trigger (no labels, no deadline), so a bug in skiff never breaks a handler.

Sketch of an adapter (``tests/adapters/test_protocol.py`` runs one)::

    class QueuePlatform(Platform):
        owner = "queue_flow"

        def signature(self):
            return inspect.Signature([inspect.Parameter("message", POSITIONAL_OR_KEYWORD)])

        def read(self, args, kwargs):
            message = self.signature().bind(*args, **kwargs).arguments["message"]
            return Call((message,), {}, message)

        def trigger(self, call):
            return Trigger(call.value, idempotency_key=f"queue:{call.value['id']}")

        def labels(self, call):
            return {"queue.message_id": call.value["id"]}

        def remaining(self, call):
            return 30.0  # seconds the platform gives each call

    def queue_flow(fn=None, /, **kwargs):
        return decorate(QueuePlatform, fn, kwargs)
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from skiff.adapters._core import (
    Options,
    check_seconds,
    env_seconds,
    monotonic_deadline,
    parse_options,
    summarize,
)

__all__ = ["Call", "Platform", "TimeoutPlatform", "Trigger"]


class Call:
    """One call of a wrapper, as :meth:`Platform.read` reads it from the runtime's arguments.

    ``args`` and ``kwargs`` are what the user's handler gets; ``value`` is the trigger
    argument (the event, the request, the binding); ``context`` the platform's context
    object, if any; ``body`` a request body that only an async wrapper could read
    (:meth:`Platform.load`).
    """

    __slots__ = ("args", "body", "context", "kwargs", "value")

    def __init__(
        self,
        args: tuple[Any, ...],
        kwargs: dict[str, Any] | None = None,
        value: Any = None,
        context: Any = None,
    ) -> None:
        self.args = args
        self.kwargs: dict[str, Any] = kwargs if kwargs is not None else {}
        self.value = value
        self.context = context
        self.body: bytes | None = None

    def __repr__(self) -> str:
        return f"Call(value={type(self.value).__name__}, context={type(self.context).__name__})"


class Trigger:
    """One call of a handler, as the platform describes it.

    ``event`` goes to ``parameters=``; ``fields`` are the candidate flow parameters for the
    default mapping (``event`` itself when None and a mapping); ``labels`` are flow-run
    labels; ``deadline`` is the :func:`time.monotonic` time at which the platform kills the
    call (None: no limit); ``flow_run_id`` takes over an existing run (a deployment's);
    ``idempotency_key`` makes a repeated delivery reuse its run; ``env`` holds environment
    variables set for the run and restored after it (a deployment's ``env`` job variable,
    on a platform that runs one call per process at a time).
    """

    __slots__ = (
        "deadline",
        "env",
        "event",
        "fields",
        "flow_run_id",
        "idempotency_key",
        "labels",
        "tags",
    )

    def __init__(
        self,
        event: Any = None,
        labels: dict[str, Any] | None = None,
        tags: Sequence[str] = (),
        idempotency_key: str | None = None,
        flow_run_id: str | None = None,
        deadline: float | None = None,
        fields: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.env = env
        self.event = event
        self.labels: dict[str, Any] = labels if labels is not None else {}
        self.tags = tags
        self.idempotency_key = idempotency_key
        self.flow_run_id = flow_run_id
        self.deadline = deadline
        self.fields = fields

    def __repr__(self) -> str:
        return (
            f"Trigger(labels={self.labels!r}, idempotency_key={self.idempotency_key!r}, "
            f"flow_run_id={self.flow_run_id!r}, deadline={self.deadline!r})"
        )


class Platform(ABC):
    """What one serverless platform provides to the wrapper builder.

    Class attributes: ``owner`` (the decorator's name, in messages), ``keywords`` (the
    adapter's own decorator keywords with their defaults, checked by
    :meth:`check_options`), ``source`` (what describing a call reads, in the log when
    that fails), ``awaits`` (whether the runtime awaits a coroutine function: False makes
    the wrapper sync and runs an async handler to completion) and ``unnamed`` (the name
    of a handler without ``__name__``).

    Instance attributes, set by ``__init__``: ``target`` (the function or
    :class:`~skiff._engine.Flow` the runs call; a subclass may replace it), ``options``,
    ``wraps_flow`` and ``name`` (the handler's ``__name__``).
    """

    owner: ClassVar[str]
    keywords: ClassVar[Mapping[str, Any]] = {}
    source: ClassVar[str] = "the trigger"
    awaits: ClassVar[bool] = True
    unnamed: ClassVar[str] = "handler"

    def __init__(self, target: Any, options: Options) -> None:
        """Check the decorated ``target`` (raise :class:`~skiff.ValidationError`) and keep it."""
        from skiff._engine import Flow

        self.target = target
        self.options = options
        self.wraps_flow = isinstance(target, Flow)
        fn = target.fn if isinstance(target, Flow) else target
        self.name: str = getattr(fn, "__name__", self.unnamed)

    @classmethod
    def configure(cls, kwargs: Mapping[str, Any]) -> Options:
        """The decorator's keywords, validated: flow keywords, common and own adapter keywords.

        Raises :class:`~skiff.ValidationError` naming the keyword (and a close match).
        """
        options = parse_options(cls.owner, kwargs, cls.keywords)
        cls.check_options(options.adapter)
        return options

    @classmethod  # noqa: B027 - optional hook
    def check_options(cls, adapter: dict[str, Any]) -> None:
        """Check (and normalise, in place) the values of this platform's own ``keywords``.

        Runs at decoration time, before any function is given; raises
        :class:`~skiff.ValidationError`. The default accepts them as they are.
        """

    # ------------------------------------------------------------------ the signature
    @abstractmethod
    def signature(self) -> inspect.Signature:
        """The wrapper's signature: the parameters the runtime calls (or binds) it with."""

    @abstractmethod
    def read(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call:
        """The handler's call from the wrapper's arguments.

        Raises :class:`~skiff.ValidationError` (or ``TypeError``) when the wrapper is not
        called the way the platform's runtime calls it: a misuse, reported to the caller.
        """

    async def load(self, call: Call) -> None:  # noqa: B027 - optional hook
        """Read, into ``call``, what only an async wrapper can (a request body); default none."""

    # ------------------------------------------------------------------ the trigger
    @abstractmethod
    def trigger(self, call: Call) -> Trigger:
        """The trigger description: event, candidate parameters, idempotency key, flow_run_id.

        :meth:`describe` adds the labels and the deadline.
        """

    @abstractmethod
    def labels(self, call: Call) -> dict[str, Any]:
        """The flow run's labels for this call (None values are dropped)."""

    @abstractmethod
    def remaining(self, call: Call) -> float | None:
        """The deadline source: seconds before the platform stops this call (None: no limit)."""

    def describe(self, call: Call) -> Trigger:
        """The whole :class:`Trigger`: :meth:`trigger`, :meth:`labels` and :meth:`remaining`."""
        trigger = self.trigger(call)
        trigger.labels = self.labels(call)
        trigger.deadline = monotonic_deadline(self.remaining(call))
        return trigger

    # ------------------------------------------------------------------ recording
    def summarize(self, value: Any) -> Any:
        """How a value of the call is recorded (a plain handler's arguments, as parameters).

        The default records JSON as is and objects by type (see
        :func:`skiff.adapters._core.summarize`); platforms record their own objects
        (a request, a context) by their safe fields.
        """
        return summarize(value)

    # ------------------------------------------------------------------ the end of a call
    def settle(self, call: Call, drain: Callable[[], None]) -> None:
        """Make the call's reports land before the platform may freeze the process.

        Runs after the flow run ended (its final state is queued) and the deadline guard
        was cancelled, in a ``finally``. ``drain`` flushes within the call's budget and
        spools the rest; it never raises, and may run later and in another thread. The
        default runs it now, so the wrapper returns only once the reports are sent.
        """
        drain()


class TimeoutPlatform(Platform):
    """A platform whose runtime does not tell a call its time left (Google Cloud, Azure).

    The deadline is the ``timeout=`` keyword (seconds), else the first of ``timeout_env``
    set in the environment (read per call, parsed by :meth:`parse_timeout`), else none.
    """

    keywords: ClassVar[Mapping[str, Any]] = {"timeout": None}
    timeout_env: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def check_options(cls, adapter: dict[str, Any]) -> None:
        """``timeout=`` must be a number of seconds >= 0 (0: no limit)."""
        value = adapter["timeout"]
        if value is not None:
            value = check_seconds(cls.owner, "timeout", value) or None  # 0: no limit
        adapter["timeout"] = value

    @staticmethod
    def parse_timeout(raw: str) -> float | None:
        """An environment timeout in seconds; raises ``ValueError`` when malformed."""
        return check_seconds("the environment", "timeout", float(raw))

    def remaining(self, call: Call) -> float | None:
        """``timeout=``, else the environment (read now), else None."""
        timeout: float | None = self.options.adapter["timeout"]
        if timeout is not None:
            return timeout
        return env_seconds(self.timeout_env, self.parse_timeout)
