"""The docs' tutorial shape: fetch, parse, aggregate, with logs and a markdown report."""

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact

READINGS = {"berlin": [12.5, 14.0, 13.1], "paris": [15.2, 16.8], "oslo": [3.4, 2.9, 4.0, 3.3]}


@task(retries=2, retry_delay_seconds=0)
def fetch_readings(city: str) -> list[float]:
    return READINGS[city]


@task
def average(city: str, values: list[float]) -> tuple[str, float]:
    get_run_logger().info("%s has %d readings", city, len(values))
    return city, round(sum(values) / len(values), 2)


@flow(log_prints=True)
def weather_report(cities: list[str]) -> dict[str, float]:
    results = dict(average(city, fetch_readings(city)) for city in cities)
    lines = "\n".join(f"| {c} | {t} |" for c, t in sorted(results.items()))
    create_markdown_artifact(key="compat-weather", markdown=f"| city | avg |\n|---|---|\n{lines}")
    print(f"report for {len(results)} cities")
    return results


if __name__ == "__main__":
    print(weather_report(["berlin", "paris", "oslo"]))
