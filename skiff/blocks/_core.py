"""``Block``: a pydantic model saved to and loaded from the Prefect server's block API."""

from __future__ import annotations

import inspect
import logging
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, ClassVar, Protocol, TypeVar
from urllib.parse import quote
from uuid import UUID

import httpx
import pydantic
import pydantic_core

from skiff._exceptions import ConflictError, NotFoundError
from skiff.blocks import _schema
from skiff.blocks._crypto import Envelope, KeyProvider, is_encrypted, key_provider_from_env
from skiff.blocks._errors import (
    BlockAlreadyExistsError,
    BlockError,
    BlockNotFoundError,
    BlockValidationError,
    ObfuscatedSecretError,
    UnknownBlockTypeError,
)
from skiff.blocks._types import OBFUSCATED
from skiff.client._types import NOT_GIVEN, NotGiven

__all__ = ["Block", "Requester"]

logger = logging.getLogger("skiff.blocks")

# Prefect's default block schema version when the defining package has no __version__.
DEFAULT_SCHEMA_VERSION = "non-versioned"
_MASK = "**********"

B = TypeVar("B", bound="Block")
KeyArg = KeyProvider | None | NotGiven

_REGISTRY: dict[str, type[Block]] = {}


class Requester(Protocol):
    """What blocks need from a client: ``skiff.Client`` (or its transport) fits."""

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> httpx.Response:
        """Send a request relative to the API URL; raise skiff's typed errors on 4xx/5xx."""
        ...


@contextmanager
def _connect(client: Requester | None) -> Iterator[Requester]:
    if client is not None:
        yield client
        return
    # The bare transport: blocks need five routes, not the 400 generated API models.
    from skiff.client._settings import Settings
    from skiff.client._sync._transport import Transport

    transport = Transport(Settings.load())
    try:
        yield transport
    finally:
        transport.close()


def _seg(value: str) -> str:
    return quote(value, safe="")


def _encryption(key_provider: KeyArg) -> Envelope:
    provider = key_provider_from_env() if isinstance(key_provider, NotGiven) else key_provider
    return Envelope(provider)


def _reveal(value: Any) -> Any:
    """``value`` with every pydantic secret replaced by what it hides."""
    if isinstance(value, dict):
        return {k: _reveal(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_reveal(v) for v in value]
    if isinstance(value, (pydantic.SecretStr, pydantic.SecretBytes, pydantic.Secret)):
        return _reveal(value.get_secret_value())
    return value


def _at_path(data: Any, path: str, visit: Callable[[dict[str, Any], str], None]) -> None:
    """Call ``visit(container, key)`` for each value a secret path (``a.b``, ``a.*``) names."""
    head, _, rest = path.partition(".")
    if not isinstance(data, dict):
        return
    if head == "*":
        for key in list(data):
            visit(data, key)
    elif head in data:
        if rest:
            _at_path(data[head], rest, visit)
        else:
            visit(data, head)


def _decrypt_all(value: Any, envelope: Envelope, field: str) -> Any:
    if is_encrypted(value):
        return envelope.decrypt(value, field)
    if isinstance(value, dict):
        return {
            k: _decrypt_all(v, envelope, f"{field}.{k}" if field else k) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_decrypt_all(v, envelope, f"{field}[{i}]") for i, v in enumerate(value)]
    return value


class _DeleteMethod:
    """``block.delete()`` deletes that saved document; ``MyBlock.delete("name")`` one by name."""

    def __get__(self, obj: Block | None, owner: type[Block]) -> Callable[..., None]:
        if obj is None:
            return owner._delete_by_name
        return obj._delete_saved


class Block(pydantic.BaseModel):
    """Base class of blocks: typed configuration, with secrets, stored on the Prefect server.

    Subclass it as with Prefect (``class MyBlock(Block): api_key: SecretStr``). The block type
    slug is the slugified ``_block_type_slug`` or ``_block_type_name`` or class name; the schema
    and its checksum match what Prefect computes for the same class.
    """

    model_config = pydantic.ConfigDict(
        # Documents saved by a newer schema still load; their extra keys are dropped.
        extra="ignore",
        # pydantic's messages would otherwise quote the (possibly secret) input.
        hide_input_in_errors=True,
        json_schema_extra=_schema.schema_extra,
        ignored_types=(_DeleteMethod,),
    )

    # Class settings, named as in Prefect so a block ports unchanged.
    _block_type_name: ClassVar[str | None] = None
    _block_type_slug: ClassVar[str | None] = None
    _logo_url: ClassVar[str | None] = None
    _documentation_url: ClassVar[str | None] = None
    _description: ClassVar[str | None] = None
    _code_example: ClassVar[str | None] = None
    _block_schema_capabilities: ClassVar[list[str] | None] = None
    _block_schema_version: ClassVar[str | None] = None
    # Fields skiff treats as secret beyond the schema's secret_fields (masked, encrypted),
    # for fields whose schema must stay identical to Prefect's.
    _extra_secret_fields: ClassVar[tuple[str, ...]] = ()

    _block_document_id: UUID | None = pydantic.PrivateAttr(None)
    _block_document_name: str | None = pydantic.PrivateAttr(None)

    delete = _DeleteMethod()

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except pydantic.ValidationError as error:
            raise BlockValidationError.from_pydantic(type(self).__name__, error) from None

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        _REGISTRY[cls.get_block_type_slug()] = cls

    def model_post_init(self, context: Any, /) -> None:
        """Run :meth:`block_initialization` after every construction and load."""
        self.block_initialization()

    def block_initialization(self) -> None:
        """Hook run after the block is built or loaded (as in Prefect); does nothing by default."""

    @pydantic.model_serializer(mode="wrap")
    def _mask_extra_secrets(
        self, handler: pydantic.SerializerFunctionWrapHandler, info: pydantic.SerializationInfo
    ) -> Any:
        # JSON dumps mask the extra secrets as pydantic masks SecretStr; python dumps (which
        # save() uses) keep them.
        data = handler(self)
        if info.mode_is_json() and isinstance(data, dict):
            for name in self._extra_secret_fields:
                if data.get(name) is not None:
                    data[name] = _MASK
        return data

    def __repr_args__(self) -> Any:
        for name, value in super().__repr_args__():
            masked = name in self._extra_secret_fields and value is not None
            yield name, _MASK if masked else value

    # -- identity and schema -----------------------------------------------------------------

    @classmethod
    def get_block_type_name(cls) -> str:
        """The block type's display name."""
        return cls._block_type_name or cls.__name__

    @classmethod
    def get_block_type_slug(cls) -> str:
        """The block type's slug, e.g. ``aws-credentials``."""
        return _schema.slugify(cls._block_type_slug or cls.get_block_type_name())

    @classmethod
    def get_description(cls) -> str | None:
        """``_description``, or the first text section of the class docstring."""
        if cls._description is not None:
            return cls._description
        return _schema.docstring_description(cls.__doc__)

    @classmethod
    def get_code_example(cls) -> str:
        """A code example for the block type's page in the UI."""
        if cls._code_example is not None:
            return inspect.cleandoc(cls._code_example)
        # Blocks skiff.blocks re-exports (each cloud's too) are shown imported from there.
        exported = getattr(sys.modules.get("skiff.blocks"), cls.__name__, None) is cls
        module = "skiff.blocks" if exported else cls.__module__
        variable = cls.get_block_type_slug().replace("-", "_")
        return (
            f"```python\nfrom {module} import {cls.__name__}\n\n"
            f'{variable}_block = {cls.__name__}.load("BLOCK_NAME")\n```'
        )

    @classmethod
    def get_block_capabilities(cls) -> frozenset[str]:
        """Capabilities declared by this class and its bases."""
        return frozenset(
            c
            for base in cls.__mro__
            for c in getattr(base, "_block_schema_capabilities", None) or []
        )

    @classmethod
    def get_block_schema_version(cls) -> str:
        """``_block_schema_version``, or the defining package's ``__version__`` (release part)."""
        if cls._block_schema_version:
            return cls._block_schema_version
        package = sys.modules.get(cls.__module__.split(".")[0])
        match = re.match(r"(\d+!)?\d+(\.\d+)*", str(getattr(package, "__version__", "")))
        return match.group(0) if match else DEFAULT_SCHEMA_VERSION

    @classmethod
    def block_schema_fields(cls) -> dict[str, Any]:
        """The block schema's ``fields`` as Prefect registers them."""
        return _schema.block_schema_fields(cls)

    @classmethod
    def schema_checksum(cls) -> str:
        """The schema checksum, ``sha256:...``, equal to Prefect's for an equivalent class."""
        return _schema.checksum_of(cls.block_schema_fields())

    @classmethod
    def secret_paths(cls) -> list[str]:
        """Dotted paths skiff treats as secret: the schema's ``secret_fields`` and the extras."""
        return list(dict.fromkeys([*_schema.secret_fields_of(cls), *cls._extra_secret_fields]))

    # -- registration --------------------------------------------------------------------------

    @classmethod
    def register_type_and_schema(cls, client: Requester | None = None) -> tuple[UUID, UUID]:
        """Create the block type (by slug) and schema (by checksum) unless they exist.

        Nested block classes register first. Returns ``(block_type_id, block_schema_id)``.
        An existing block type is never updated: it may be protected, or owned by Prefect.
        """
        with _connect(client) as api:
            for blocks in _schema.nested_block_classes(cls).values():
                for nested in blocks:
                    nested.register_type_and_schema(api)
            type_id = cls._ensure_block_type(api)
            schema_id = cls._ensure_block_schema(api, type_id)
        return type_id, schema_id

    @classmethod
    def _ensure_block_type(cls, api: Requester) -> UUID:
        slug = cls.get_block_type_slug()
        try:
            return UUID(api.request("GET", f"/block_types/slug/{_seg(slug)}").json()["id"])
        except NotFoundError:
            pass
        body = {
            "name": cls.get_block_type_name(),
            "slug": slug,
            "logo_url": cls._logo_url,
            "documentation_url": cls._documentation_url,
            "description": cls.get_description(),
            "code_example": cls.get_code_example(),
        }
        try:
            created = api.request("POST", "/block_types/", json=body).json()
        except ConflictError:  # created concurrently
            created = api.request("GET", f"/block_types/slug/{_seg(slug)}").json()
        logger.debug("registered block type %s", slug)
        return UUID(created["id"])

    @classmethod
    def _ensure_block_schema(cls, api: Requester, type_id: UUID) -> UUID:
        fields = cls.block_schema_fields()
        checksum = _schema.checksum_of(fields)
        try:
            # No version filter: any schema with this checksum serves, so none is duplicated.
            found = api.request("GET", f"/block_schemas/checksum/{_seg(checksum)}").json()
            return UUID(found["id"])
        except NotFoundError:
            pass
        body = {
            "fields": fields,
            "block_type_id": str(type_id),
            "capabilities": sorted(cls.get_block_capabilities()),
            "version": cls.get_block_schema_version(),
        }
        created = api.request("POST", "/block_schemas/", json=body).json()
        logger.debug("registered block schema %s for %s", checksum, cls.get_block_type_slug())
        return UUID(created["id"])

    # -- documents -----------------------------------------------------------------------------

    def _document_data(self, envelope: Envelope) -> dict[str, Any]:
        data: dict[str, Any] = pydantic_core.to_jsonable_python(
            _reveal(self.model_dump(mode="python", by_alias=True))
        )
        if envelope.enabled:

            def encrypt(container: dict[str, Any], key: str) -> None:
                if container[key] is not None:
                    container[key] = envelope.encrypt(container[key])

            for path in self.secret_paths():
                _at_path(data, path, encrypt)
        return data

    def save(
        self,
        name: str | None = None,
        overwrite: bool = False,
        *,
        client: Requester | None = None,
        key_provider: KeyArg = NOT_GIVEN,
    ) -> UUID:
        """Save as a block document named ``name``; return its id.

        With ``overwrite=False`` an existing name raises :class:`BlockAlreadyExistsError`.
        Secret fields are encrypted first when ``key_provider`` is given or ``SKIFF_BLOCK_KEY``
        is set (``key_provider=None`` turns that off).
        """
        name = name or self._block_document_name
        if not name:
            raise BlockError("save() needs a name")
        slug = self.get_block_type_slug()
        data = self._document_data(_encryption(key_provider))
        with _connect(client) as api:
            type_id, schema_id = self.register_type_and_schema(api)
            body = {
                "name": name,
                "block_schema_id": str(schema_id),
                "block_type_id": str(type_id),
                "data": data,
                "is_anonymous": False,
            }
            try:
                doc_id = UUID(api.request("POST", "/block_documents/", json=body).json()["id"])
            except ConflictError:
                if not overwrite:
                    raise BlockAlreadyExistsError(
                        f"a {slug!r} block named {name!r} already exists; "
                        "pass overwrite=True to replace it"
                    ) from None
                doc_id = UUID(self._read_document(api, slug, name, secrets=False)["id"])
                # Replace, not merge: a field set back to its default must not keep the old value.
                update = {
                    "block_schema_id": str(schema_id),
                    "data": data,
                    "merge_existing_data": False,
                }
                api.request("PATCH", f"/block_documents/{doc_id}", json=update)
        self._block_document_id = doc_id
        self._block_document_name = name
        logger.debug("saved block %s/%s (%s)", slug, name, doc_id)
        return doc_id

    @classmethod
    def _read_document(
        cls, api: Requester, slug: str, name: str, *, secrets: bool
    ) -> dict[str, Any]:
        path = f"/block_types/slug/{_seg(slug)}/block_documents/name/{_seg(name)}"
        params = {"include_secrets": "true" if secrets else "false"}
        try:
            document: dict[str, Any] = api.request("GET", path, params=params).json()
            return document
        except NotFoundError:
            pass
        try:
            api.request("GET", f"/block_types/slug/{_seg(slug)}")
        except NotFoundError:
            raise UnknownBlockTypeError(
                f"the server has no block type with slug {slug!r}"
            ) from None
        raise BlockNotFoundError(f"no {slug!r} block named {name!r}") from None

    @classmethod
    def _resolve(cls, name: str) -> tuple[type[Block], str, str]:
        """The class, slug and document name for ``name`` or ``slug/name``."""
        if "/" not in name:
            if cls is Block:
                raise UnknownBlockTypeError(
                    f"Block.load needs 'slug/name', got {name!r}; or call load on a subclass"
                )
            return cls, cls.get_block_type_slug(), name
        slug, doc_name = name.split("/", 1)
        if cls is not Block:
            if slug != cls.get_block_type_slug():
                raise UnknownBlockTypeError(
                    f"{cls.__name__} has slug {cls.get_block_type_slug()!r}, not {slug!r}"
                )
            return cls, slug, doc_name
        target = _REGISTRY.get(slug)
        if target is None:
            raise UnknownBlockTypeError(
                f"no block class with slug {slug!r} is defined; import the module defining it"
            )
        return target, slug, doc_name

    @classmethod
    def load(
        cls: type[B],
        name: str,
        *,
        client: Requester | None = None,
        key_provider: KeyArg = NOT_GIVEN,
    ) -> B:
        """Load the document ``name`` (or ``slug/name`` from ``Block``) with its secrets.

        Encrypted secrets are decrypted with ``key_provider`` or ``SKIFF_BLOCK_KEY``
        (:class:`DecryptionError` without the right key). A secret holding the server's
        ``********`` placeholder raises :class:`ObfuscatedSecretError`.
        """
        target, slug, doc_name = cls._resolve(name)
        with _connect(client) as api:
            document = target._read_document(api, slug, doc_name, secrets=True)
        data = _decrypt_all(document.get("data") or {}, _encryption(key_provider), "")
        schema_secrets = ((document.get("block_schema") or {}).get("fields") or {}).get(
            "secret_fields"
        ) or []

        def check(container: dict[str, Any], key: str) -> None:
            if container[key] == OBFUSCATED:
                raise ObfuscatedSecretError(
                    f"{slug}/{doc_name}: secret field {key!r} holds the server's placeholder "
                    f"{OBFUSCATED!r}, not a value; re-save it with the real secret"
                )

        for path in dict.fromkeys([*schema_secrets, *target.secret_paths()]):
            _at_path(data, path, check)
        try:
            block = target.model_validate(data)
        except pydantic.ValidationError as error:
            raise BlockValidationError.from_pydantic(f"{slug}/{doc_name}", error) from None
        block._block_document_id = UUID(document["id"])
        block._block_document_name = document.get("name")
        logger.debug("loaded block %s/%s (%s)", slug, doc_name, block._block_document_id)
        return block  # type: ignore[return-value]

    @classmethod
    def list_names(cls, *, client: Requester | None = None) -> list[str]:
        """Names of the saved documents of this block type, sorted."""
        slug = cls.get_block_type_slug()
        with _connect(client) as api:
            try:
                reply = api.request("GET", f"/block_types/slug/{_seg(slug)}/block_documents")
            except NotFoundError:
                return []
        return sorted(d["name"] for d in reply.json() if d.get("name"))

    @classmethod
    def _delete_by_name(cls, name: str, *, client: Requester | None = None) -> None:
        target, slug, doc_name = cls._resolve(name)
        with _connect(client) as api:
            doc_id = target._read_document(api, slug, doc_name, secrets=False)["id"]
            api.request("DELETE", f"/block_documents/{doc_id}")
        logger.debug("deleted block %s/%s (%s)", slug, doc_name, doc_id)

    def _delete_saved(self, *, client: Requester | None = None) -> None:
        if self._block_document_id is None:
            raise BlockError("this block was never saved or loaded; nothing to delete")
        with _connect(client) as api:
            try:
                api.request("DELETE", f"/block_documents/{self._block_document_id}")
            except NotFoundError:
                raise BlockNotFoundError(
                    f"block document {self._block_document_id} no longer exists"
                ) from None
        logger.debug("deleted block document %s", self._block_document_id)
        self._block_document_id = None
