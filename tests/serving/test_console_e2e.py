"""Issue 16: the merchant console served by `les serve` at /ui, against a real server with auth on.

JSON endpoints over HTTP (auth by bearer token or the sign-in cookie, pagination, sorting, bad
parameters, what-if, uploads), then a real browser: Playwright driving Debian's chromium opens the
overview, sorts, opens a merchant, moves a what-if input and sees the forecast change, uploads a
file with a bad row and sees its reason, and no request leaves the machine. Screenshots are kept
in out/test-artifacts/console/."""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest

from tests.serving.conftest import Server, Store, running_server
from tests.training.conftest import make_dataset

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("serving")]
TOKEN = "console-secret"
ARTIFACTS = Path(__file__).resolve().parents[2] / "out" / "test-artifacts" / "console"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Chromium as root, headless, and quiet: without the background-networking flags it tries
# Google's hosts at every start, which this machine's closed network refuses.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


@pytest.fixture(scope="module")
def console_server(store: Store, tmp_path_factory: pytest.TempPathFactory):
    directory = tmp_path_factory.mktemp("console")
    dataset = directory / "dataset.parquet"
    make_dataset(n_merchants=60, n_snapshots=30).to_parquet(dataset)
    with running_server(
        store, directory, LES_API_TOKEN=TOKEN, LES_CONSOLE_DATASET=str(dataset)
    ) as server:
        yield server


def orders_csv(parity_orders, bad_channel_row: int | None = None) -> bytes:
    frame = parity_orders.copy()
    frame["channel"] = frame["channel"].astype(str)
    if bad_channel_row is not None:
        frame.loc[bad_channel_row, "channel"] = "telepathy"
    return frame.to_csv(index=False).encode()


def test_console_routes_need_the_token_or_the_sign_in_cookie(console_server: Server) -> None:
    anonymous = httpx.Client(base_url=console_server.url, timeout=30, follow_redirects=False)
    assert anonymous.get("/ui/api/merchants").status_code == 401
    page = anonymous.get("/ui/")
    assert page.status_code == 303 and page.headers["location"] == "/ui/login"
    assert anonymous.get("/ui/login").status_code == 200
    assert "x-les-model-version" not in anonymous.get("/ui/login").headers
    assert anonymous.post("/ui/login", data={"token": "wrong"}).status_code == 401
    signed = anonymous.post("/ui/login", data={"token": TOKEN})
    assert signed.status_code == 303
    assert "httponly" in signed.headers["set-cookie"].lower()
    with httpx.Client(base_url=console_server.url, timeout=30, cookies=signed.cookies) as browser:
        assert browser.get("/ui/api/merchants").status_code == 200
        assert browser.get("/ui/").status_code == 200
        # the cookie opens the console only, never the API
        assert browser.post("/predict", json={"merchants": []}).status_code == 401
    with console_server.client() as client:
        assert client.get("/ui/api/merchants").status_code == 200


def test_pagination_sorting_and_bad_parameters(console_server: Server) -> None:
    with console_server.client() as client:
        first = client.get("/ui/api/merchants", params={"sort": "change", "page_size": 25}).json()
        third = client.get(
            "/ui/api/merchants", params={"sort": "change", "page_size": 25, "page": 3}
        ).json()
        assert first["total"] == 60 and first["pages"] == 3 and len(third["rows"]) == 10
        changes = [r["change"] for r in first["rows"] + third["rows"]]
        assert changes == sorted(changes, reverse=True)
        ascending = client.get(
            "/ui/api/merchants", params={"sort": "p_poor", "order": "asc", "page_size": 60}
        ).json()
        poor = [r["p_poor"] for r in ascending["rows"]]
        assert poor == sorted(poor)
        for params, field in (({"sort": "x"}, "sort"), ({"page": "two"}, "page")):
            bad = client.get("/ui/api/merchants", params=params)
            assert bad.status_code == 400 and field in bad.json()["error"]
        assert client.get("/ui/api/merchants/nobody").status_code == 404
        page = client.get("/ui/api/merchants/m007").json()
        assert page["merchant_id"] == "m007" and len(page["history"]) == 30


def test_what_if_and_uploads_over_http(console_server: Server, parity_orders) -> None:
    with console_server.client() as client:
        moved = client.post(
            "/ui/api/merchants/m007/what-if", json={"changes": {"late_dispatch_rate": 0.0}}
        )
        assert moved.status_code == 200 and "explanation" in moved.json()
        refused = client.post(
            "/ui/api/merchants/m007/what-if", json={"changes": {"late_dispatch_rate": "fast"}}
        )
        assert refused.status_code == 400 and "changes" in refused.json()["error"]
        empty = client.post("/ui/api/upload", content=b"", headers={"x-filename": "e.csv"})
        assert empty.status_code == 400 and "e.csv" in empty.json()["error"]
        no_columns = client.post("/ui/api/upload", content=b"a,b\n1,2\n")
        assert no_columns.status_code == 400 and "required columns" in no_columns.json()["error"]
        answer = client.post(
            "/ui/api/upload", content=orders_csv(parity_orders, bad_channel_row=3),
            headers={"x-filename": "orders.csv"},
        ).json()  # fmt: skip
        assert answer["rejected_rows"] == 1 and answer["valid_rows"] == len(parity_orders) - 1
        assert answer["rejected"][0]["reject_reason"] == "unknown_enum:channel"
        assert answer["merchants"] and answer["merchants"][0]["explanation"]["forecast"]["tier"]


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def test_the_console_in_a_real_browser(
    console_server: Server, browser, parity_orders, tmp_path: Path
) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    requests: list[str] = []
    errors: list[str] = []
    context.on("request", lambda r: requests.append(r.url))
    page = context.new_page()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{console_server.url}/ui/")
    assert page.url.endswith("/ui/login")
    page.get_by_label("API token").fill(TOKEN)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("#overview tbody tr")
    assert page.locator("#overview tbody tr").count() == 25
    page.screenshot(path=str(ARTIFACTS / "overview.png"), full_page=True)

    page.click("button[data-sort=change]")
    page.wait_for_selector("th[aria-sort=descending] button[data-sort=change]")
    shown = [
        float(t.replace("+", ""))
        for t in page.locator("#overview tbody td:nth-child(6)").all_inner_texts()
    ]
    assert shown == sorted(shown, reverse=True)
    page.click("#next")
    page.wait_for_selector("#page:has-text('Page 2 of 3')")

    page.locator("#overview tbody tr a").first.click()
    page.wait_for_selector("#waterfall .main-svg")
    before = page.inner_text("#forecast-score")
    inputs = page.locator(".whatif input")
    assert inputs.count() > 0
    changed = False
    for i in range(inputs.count()):  # the first actionable feature that moves this forecast
        box = inputs.nth(i)
        box.fill(str(float(box.get_attribute("max") or 1000)))
        page.wait_for_selector("#whatif-result:has-text('What-if forecast')")
        page.wait_for_timeout(150)
        if page.inner_text("#forecast-score") != before:
            changed = True
            break
    assert changed, "no what-if input moved the forecast"
    page.screenshot(path=str(ARTIFACTS / "merchant-what-if.png"), full_page=True)

    upload = tmp_path / "orders.csv"
    upload.write_bytes(orders_csv(parity_orders, bad_channel_row=3))
    page.goto(f"{console_server.url}/ui/#/upload")
    page.set_input_files("#file", str(upload))
    page.wait_for_selector("#rejected")
    assert "unknown_enum:channel" in page.inner_text("#rejected")
    page.wait_for_selector("#waterfall .main-svg")
    page.screenshot(path=str(ARTIFACTS / "upload.png"), full_page=True)
    lines = orders_csv(parity_orders, bad_channel_row=3).decode().splitlines(keepends=True)
    cut = len(lines) // 2  # one table in two files that share 10 orders
    parts = [tmp_path / "orders-1.csv", tmp_path / "orders-2.csv"]
    parts[0].write_text("".join(lines[: cut + 10]))
    parts[1].write_text("".join([lines[0], *lines[cut:]]))
    page.set_input_files("#file", [str(p) for p in parts])
    page.wait_for_selector("#upload-summary:has-text('from 2 files')")
    summary = page.inner_text("#upload-summary")
    assert f"{len(parity_orders)} rows" not in summary and "10 copies" in summary, summary
    assert "orders-1.csv" in page.inner_text("#rejected")  # the bad row names its file
    page.wait_for_selector("#waterfall .main-svg")
    page.screenshot(path=str(ARTIFACTS / "upload-two-files.png"), full_page=True)
    terms = tmp_path / "terms.yaml"
    terms.write_text("market: US\n")
    page.set_input_files("#policy", str(terms))  # deadline terms do not apply to the contract
    page.set_input_files("#file", str(upload))
    page.wait_for_selector("#upload-results [role=alert]:has-text('policy')")

    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    page.goto(f"{console_server.url}/ui/#/")
    page.wait_for_selector("#overview tbody tr")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390 + 1, f"the overview overflows a phone's width: {width}px"
    page.screenshot(path=str(ARTIFACTS / "overview-phone.png"), full_page=True)
    context.close()

    hosts = {urlparse(u).hostname for u in requests if not u.startswith("data:")}
    assert hosts == {"127.0.0.1"}, hosts  # nothing a page needs comes from anywhere else
    refused = "the server responded with a status of 400"  # the policy upload, refused on purpose
    assert [e for e in errors if refused not in e] == [] and len(errors) == 1, errors


def test_a_tiktok_shop_export_uploads_like_les_ingest_reads_it(
    console_server: Server, parity_orders, tmp_path: Path
) -> None:
    from tests.features.export_fixtures import tiktok_lines
    from tests.features.tiktok_fixtures import write_csv

    merchant = parity_orders["merchant_id"].value_counts().index[0]
    orders = parity_orders[parity_orders["merchant_id"] == merchant].reset_index(drop=True)
    export = write_csv(tmp_path / "All order-2026-03-09-10_00.csv", tiktok_lines(orders))
    with console_server.client() as client:
        params = {"layout": "tiktok-shop", "market": "US", "shop_id": "my-shop"}
        answer = client.post(
            "/ui/api/upload", params=params, content=export.read_bytes(),
            headers={"x-filename": export.name},
        )  # fmt: skip
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["valid_rows"] + body["rejected_rows"] == len(orders)
        assert [m["merchant_id"] for m in body["merchants"]] == ["my-shop"]
        unknown = client.post("/ui/api/upload", params={**params, "layout": "temu"}, content=b"x")
        assert unknown.status_code == 400 and "layout" in unknown.json()["error"]
        no_shop = client.post(
            "/ui/api/upload", params={**params, "shop_id": ""}, content=export.read_bytes()
        )
        assert no_shop.status_code == 400 and "shop_id" in no_shop.json()["error"]
        wrong = client.post(
            "/ui/api/upload", params={**params, "layout": "shopify"},
            content=export.read_bytes(), headers={"x-filename": export.name},
        )  # fmt: skip
        assert wrong.status_code == 400 and "TikTok Shop" in wrong.json()["error"]
        half = len(orders) // 2  # two exports of the shop, overlapping by 20 orders
        first = write_csv(tmp_path / "All order-1.csv", tiktok_lines(orders.head(half + 20)))
        second = write_csv(tmp_path / "All order-2.csv", tiktok_lines(orders.iloc[half:]))
        parts = [("file", (p.name, p.read_bytes(), "text/csv")) for p in (first, second)]
        both = client.post("/ui/api/upload", params=params, files=parts)
        assert both.status_code == 200, both.text
        body = both.json()
        assert body["files"] == [first.name, second.name] and body["superseded_copies"] == 20
        assert body["valid_rows"] + body["rejected_rows"] == len(orders)
        assert [m["merchant_id"] for m in body["merchants"]] == ["my-shop"]
        from tests.serving.test_console_data import OWN_TERMS

        terms = ("policy", ("terms.yaml", OWN_TERMS.encode(), "application/yaml"))
        own = client.post("/ui/api/upload", params=params, files=[*parts, terms])
        assert own.status_code == 200, own.text
        assert own.json()["policy"] == "terms.yaml" and own.json()["deadline_versions"]
        contract = client.post("/ui/api/upload", files=[parts[0], terms])
        assert contract.status_code == 400 and "policy" in contract.json()["error"]
        no_file = client.post("/ui/api/upload", params=params, files={"other": ("a.csv", b"x")})
        assert no_file.status_code == 400 and "'file' part" in no_file.json()["error"]
