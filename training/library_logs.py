"""Where the libraries' own log records go: the log file, not the terminal, so a command's output
is les's progress and tables only."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import typer

from features.console import log_file

# Libraries that log progress and notices of their own; their records go to the log file.
LIBRARY_LOGGERS = ("mlflow", "alembic", "distributed", "lightgbm", "urllib3")
SERVER_COMMANDS = ("serve",)  # the server's log is its output
LOG_HANDLER_NAME = "les-library-log"


def quiet_libraries(ctx: typer.Context) -> None:
    """Keep the terminal to les's own progress and tables: MLflow's download bars and notices are
    off, and library log records go to $LES_LOG_FILE (default ./les.log, created only when a
    library logs something)."""
    if ctx.invoked_subcommand in SERVER_COMMANDS:
        return
    route_library_logs(log_file())


def route_library_logs(path: Path) -> None:
    """Send every LIBRARY_LOGGERS record to `path`, replacing terminal handlers and ours of an
    earlier command in this process."""
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    from mlflow.utils import logging_utils

    logging_utils.disable_logging()  # MLflow's own stderr notices ("Created version ...")
    handler = logging.FileHandler(path, delay=True, encoding="utf-8")
    handler.set_name(LOG_HANDLER_NAME)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        for old in [h for h in logger.handlers if _routed_away(h)]:
            logger.removeHandler(old)
        logger.addHandler(handler)
        logger.propagate = False


def _routed_away(handler: logging.Handler) -> bool:
    is_terminal = type(handler) is logging.StreamHandler
    return is_terminal or handler.get_name() == LOG_HANDLER_NAME
