"""`les serve`: start the BentoML HTTP service for the registered model."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from features.console import Command
from serving.config import ENV_MODEL_URI, ENV_WORKERS, ServiceConfigError, config_from_env

SERVICE = "serving.service:LesService"


def serve_command(port: int, host: str) -> list[str]:
    return [sys.executable, "-m", "bentoml", "serve", SERVICE, "--port", str(port), "--host", host]


def serve(
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 3000,
    host: Annotated[
        str, typer.Option(help="Interface to bind; 0.0.0.0 to accept remote clients.")
    ] = "127.0.0.1",
    workers: Annotated[
        int | None,
        typer.Option(min=1, help="Worker processes (one per core); default LES_WORKERS or 1."),
    ] = None,
    model_uri: Annotated[
        str | None,
        typer.Option(help="MLflow model URI; default LES_MODEL_URI or the champion alias."),
    ] = None,
) -> None:
    """Serve /predict, /predict_orders and /explain over HTTP (BentoML) for the registered model.

    Environment: MLFLOW_TRACKING_URI (store), LES_API_TOKEN (bearer auth), LES_MAX_BATCH,
    LES_MAX_ORDERS, LES_MAX_BODY_BYTES; see docs/serving.md."""
    env = dict(os.environ)
    if workers is not None:
        env[ENV_WORKERS] = str(workers)
    if model_uri:
        env[ENV_MODEL_URI] = model_uri
    check_config(env)
    command = serve_command(port, host)
    os.execve(command[0], command, env)


def check_config(env: dict[str, str]) -> None:
    """A bad LES_* value is one line and exit 2 here, like every other start-up error; found later,
    at the import of the service inside `bentoml serve`, it would be a traceback and exit 1."""
    try:
        config_from_env(env)
    except ServiceConfigError as exc:
        typer.echo(f"les serving cannot start: {exc}", err=True)
        raise typer.Exit(2) from None


COMMANDS: tuple[Command, ...] = (Command("serve", serve),)
