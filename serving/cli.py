"""The `les` console script: every feature and training command, plus `les serve`.

Serving imports training, never the reverse, so the full command set is assembled here.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from serving.config import ENV_MODEL_URI, ENV_WORKERS
from training.cli import app

__all__ = ["app"]
SERVICE = "serving.service:LesService"


def serve_command(port: int, host: str) -> list[str]:
    return [sys.executable, "-m", "bentoml", "serve", SERVICE, "--port", str(port), "--host", host]


@app.command()
def serve(
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 3000,
    host: Annotated[
        str, typer.Option(help="Interface to bind; 0.0.0.0 to accept remote clients.")
    ] = "127.0.0.1",
    workers: Annotated[int, typer.Option(min=1, help="Worker processes (one per core).")] = 1,
    model_uri: Annotated[
        str | None,
        typer.Option(help="MLflow model URI; default LES_MODEL_URI or the champion alias."),
    ] = None,
) -> None:
    """Serve /predict, /predict_orders and /explain over HTTP (BentoML) for the registered model.

    Environment: MLFLOW_TRACKING_URI (store), LES_API_TOKEN (bearer auth), LES_MAX_BATCH,
    LES_MAX_ORDERS, LES_MAX_BODY_BYTES; see docs/serving.md."""
    env = {**os.environ, ENV_WORKERS: str(workers)}
    if model_uri:
        env[ENV_MODEL_URI] = model_uri
    command = serve_command(port, host)
    os.execve(command[0], command, env)
