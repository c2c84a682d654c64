"""The merchant console: an ASGI app mounted at /ui inside the BentoML service (same guard, same
bearer token, same model). Pages are static files served from here (plotly.js from the plotly
wheel: nothing from a CDN); the data comes from the JSON endpoints under /ui/api, answered on the
server (sorting, filtering, pagination). Handlers are sync, so Starlette runs them in its thread
pool and the event loop keeps answering the probes.
"""

from __future__ import annotations

import json
import logging
from importlib import resources
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from features.catalogue import Catalogue
from serving.config import ServiceConfig
from serving.console.data import (
    ConsoleData,
    ConsoleError,
    load_console_data,
    merchant_page,
    overview_page,
    what_if,
)
from serving.console.upload import MAX_FILES, upload_view
from serving.http import CONSOLE_COOKIE
from serving.scoring import ServedModel

STATIC = Path(__file__).with_name("static")
PLOTLY_JS = Path(str(resources.files("plotly").joinpath("package_data", "plotly.min.js")))
ASSETS = {
    "console.js": (STATIC / "console.js", "text/javascript"),
    "console.css": (STATIC / "console.css", "text/css"),
    "plotly.min.js": (PLOTLY_JS, "text/javascript"),
}
LOGGER = logging.getLogger("les.console")


class ConsoleState:
    """Set once per worker, when the service has loaded its model."""

    def __init__(self) -> None:
        self.served: ServedModel | None = None
        self.catalogue: Catalogue | None = None
        self.data: ConsoleData | None = None
        self.max_advice = 3
        self.problem: str | None = None
        self.token: str | None = None

    def attach(
        self,
        served: ServedModel,
        catalogue: Catalogue,
        config: ServiceConfig,
    ) -> None:
        from features.io import read_table

        self.served, self.catalogue = served, catalogue
        self.max_advice, self.token = config.max_advice, config.api_token
        dataset = config.console_dataset
        if dataset is None:
            self.problem = (
                "no dataset: start the service with LES_CONSOLE_DATASET=<les build-dataset output>"
            )
            return
        try:
            forecasts = given_forecasts(served, config)
            label = (
                dataset
                if forecasts is None
                else f"{dataset}, forecasts: {config.console_forecasts}"
            )
            self.data = load_console_data(served.model, read_table(Path(dataset)), label, forecasts)
        except (ConsoleError, OSError, ValueError) as exc:
            self.problem = f"LES_CONSOLE_DATASET {dataset}: {exc}"
            LOGGER.warning("console without overview: %s", self.problem)


STATE = ConsoleState()


def given_forecasts(served: ServedModel, config: ServiceConfig):
    """LES_CONSOLE_FORECASTS: "ledger" (the served version's forecasts in the forecast ledger) or
    a `les score` output; None: the console forecasts the dataset's newest rows itself."""
    source = config.console_forecasts
    if source is None:
        return None
    if source == "ledger":
        from training.ledger import forecasts_of

        info = served.info
        return forecasts_of(info.name, info.version, config.ledger_url)
    from features.io import read_table

    frame = read_table(Path(source))
    if "model_version" in frame:
        frame = frame[frame["model_version"].astype(str) == served.info.version]
    return frame


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _ready() -> tuple[ServedModel, Catalogue]:
    if STATE.served is None or STATE.catalogue is None:
        raise ConsoleError("the console's model is not loaded yet")
    return STATE.served, STATE.catalogue


def index(request: Request) -> Response:
    return FileResponse(STATIC / "index.html", media_type="text/html")


def asset(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in ASSETS:
        return _error(404, f"no asset {name!r}")
    path, media = ASSETS[name]
    return FileResponse(path, media_type=media, headers={"cache-control": "max-age=3600"})


def merchants(request: Request) -> Response:
    if STATE.data is None:
        return _error(503, STATE.problem or "the console's data is not loaded yet")
    q = request.query_params
    try:
        page = overview_page(
            STATE.data.overview,
            sort=q.get("sort", "p_poor"),
            descending=q.get("order", "desc") != "asc",
            stage=q.get("stage") or None,
            search=q.get("q") or None,
            page=_int(q.get("page", "1"), "page"),
            page_size=_int(q.get("page_size", "50"), "page_size"),
        )
    except ConsoleError as exc:
        return _error(400, str(exc))
    served, _ = _ready()
    page["model"] = served.info.model_dump()
    page["source"] = STATE.data.source
    return JSONResponse(page)


def merchant(request: Request) -> Response:
    if STATE.data is None:
        return _error(503, STATE.problem or "the console's data is not loaded yet")
    served, catalogue = _ready()
    try:
        view = merchant_page(
            served.model, STATE.data, request.path_params["merchant_id"], catalogue,
            STATE.max_advice,
        )  # fmt: skip
    except ConsoleError as exc:
        return _error(404, str(exc))
    return JSONResponse(view)


async def merchant_what_if(request: Request) -> Response:
    if STATE.data is None:
        return _error(503, STATE.problem or "the console's data is not loaded yet")
    try:
        body = json.loads(await request.body() or b"{}")
    except json.JSONDecodeError as exc:
        return _error(400, f"body: not JSON ({exc.msg})")
    changes = body.get("changes") if isinstance(body, dict) else None
    if not isinstance(changes, dict) or not all(
        v is None or isinstance(v, int | float) for v in changes.values()
    ):
        return _error(400, "changes: expected an object of feature name to number or null")
    from starlette.concurrency import run_in_threadpool

    served, catalogue = _ready()
    try:
        answer = await run_in_threadpool(
            what_if, served.model, STATE.data, request.path_params["merchant_id"],
            {str(k): v for k, v in changes.items()}, catalogue, STATE.max_advice,
        )  # fmt: skip
    except ConsoleError as exc:
        return _error(400, str(exc))
    return JSONResponse(answer)


async def upload(request: Request) -> Response:
    from starlette.concurrency import run_in_threadpool

    served, catalogue = _ready()
    q = request.query_params
    try:
        files, policy = await uploaded_files(request)
        answer = await run_in_threadpool(
            upload_view, served, files, catalogue, STATE.max_advice,
            q.get("layout", "contract"), q.get("market") or None, q.get("shop_id") or None, policy,
        )  # fmt: skip
    except ConsoleError as exc:
        return _error(400, str(exc))
    return JSONResponse(answer)


async def uploaded_files(
    request: Request,
) -> tuple[list[tuple[str, bytes]], tuple[str, bytes] | None]:
    """The files of an upload and the shop's policy file: every `file` part of a
    multipart/form-data body (a shop's exports at once) and its `policy` part, else the raw body
    named by the `x-filename` header (one file, no policy)."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        return [(request.headers.get("x-filename", "upload"), await request.body())], None
    try:
        form = await request.form(max_files=MAX_FILES + 1, max_fields=10)
    except HTTPException as exc:  # too many parts, or a body that is not multipart
        raise ConsoleError(f"upload: {exc.detail}") from exc
    parts = [part for part in form.getlist("file") if isinstance(part, UploadFile)]
    if not parts:
        raise ConsoleError("upload: the multipart body has no 'file' part")
    policy = form.get("policy")
    policy_file = None
    if isinstance(policy, UploadFile):
        policy_file = (policy.filename or "policy.yaml", await policy.read())
    elif policy:
        raise ConsoleError("upload: the 'policy' part must be a file (a policy YAML)")
    return [(part.filename or "", await part.read()) for part in parts], policy_file


LOGIN_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>les console: sign in</title><link rel="icon" href="data:,">
<link rel="stylesheet" href="static/console.css"></head>
<body><main class="login"><h1>les console</h1>
<form method="post" action="login"><label for="token">API token (LES_API_TOKEN)</label>
<input id="token" name="token" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button></form>{message}</main></body></html>"""


async def login(request: Request) -> Response:
    """The bearer token typed once, kept in an HttpOnly cookie the guard reads for /ui."""
    if request.method == "GET":
        return HTMLResponse(LOGIN_PAGE.format(message=""))
    import hmac
    from urllib.parse import parse_qs

    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    token = (form.get("token") or [""])[0]
    if STATE.token is not None and not hmac.compare_digest(token.encode(), STATE.token.encode()):
        page = LOGIN_PAGE.format(message='<p role="alert" class="neg">Wrong token.</p>')
        return HTMLResponse(page, status_code=401)
    response = Response(status_code=303, headers={"location": "/ui/"})
    response.set_cookie(CONSOLE_COOKIE, token, httponly=True, samesite="strict", path="/ui")
    return response


def _int(text: str, field: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ConsoleError(f"{field}: {text!r} is not a whole number") from None


def console_app() -> Starlette:
    routes: list[Any] = [
        Route("/", index),
        Route("/login", login, methods=["GET", "POST"]),
        Route("/static/{name}", asset),
        Route("/api/merchants", merchants),
        Route("/api/merchants/{merchant_id:path}/what-if", merchant_what_if, methods=["POST"]),
        Route("/api/merchants/{merchant_id:path}", merchant),
        Route("/api/upload", upload, methods=["POST"]),
    ]
    return Starlette(routes=routes)
