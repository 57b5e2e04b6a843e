"""A dataclass parameter and defaults that are containers."""

from dataclasses import dataclass, field

from prefect import flow


@dataclass
class Config:
    source: str
    limit: int = 10
    columns: list[str] = field(default_factory=list)


@flow
def configure(config: Config, dry_run: bool = True) -> str:
    return f"{config.source}:{config.limit}:{','.join(config.columns)}:{dry_run}"


if __name__ == "__main__":
    print(configure(Config("s3://bucket", 5, ["a", "b"])))
