"""get_run_logger in flows and tasks, at each level (debug is below the default level)."""

from prefect import flow, get_run_logger, task


@task
def work(item: str) -> str:
    logger = get_run_logger()
    logger.debug("debug detail for %s", item)
    logger.info("working on %s", item)
    logger.warning("item %s looks odd", item)
    return item.upper()


@flow
def logged() -> str:
    logger = get_run_logger()
    logger.info("flow starting")
    result = work("x")
    logger.error("flow saw an error-level message")
    return result


if __name__ == "__main__":
    print(logged())
