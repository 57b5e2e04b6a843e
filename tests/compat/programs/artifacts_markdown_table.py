"""Markdown and table artifacts from a flow and a task (docs: "Artifacts")."""

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact


@task
def report(rows: list[dict]) -> str:
    return (
        create_table_artifact(key="compat-sales-table", table=rows, description="Sales by region")
        and "table"
    )


@flow
def reporting() -> str:
    rows = [{"region": "north", "sales": 10}, {"region": "south", "sales": 7}]
    report(rows)
    create_markdown_artifact(
        key="compat-summary", markdown="# Summary\n\n17 sales", description="Weekly summary"
    )
    return "reported"


if __name__ == "__main__":
    print(reporting())
