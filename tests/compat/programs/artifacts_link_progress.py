"""Link and progress artifacts; a progress artifact updated as work proceeds."""

from prefect import flow
from prefect.artifacts import (
    create_link_artifact,
    create_progress_artifact,
    update_progress_artifact,
)


@flow
def progressing() -> str:
    create_link_artifact(
        key="compat-dashboard",
        link="https://example.com/dashboard",
        link_text="Dashboard",
        description="Where to look",
    )
    progress_id = create_progress_artifact(progress=0.0, description="Work done")
    for pct in (25.0, 50.0, 100.0):
        update_progress_artifact(artifact_id=progress_id, progress=pct)
    return "done"


if __name__ == "__main__":
    print(progressing())
