"""End to end in a real headless browser: `refad explore` clicked through, and the HTML report.

Playwright drives Debian's chromium (`/usr/bin/chromium`, given as `executable_path`:
Playwright's own browser download is not used). Without the `playwright` package or a
chromium binary these tests skip and say which is missing; CI installs both.
One browser serves the whole module; each test gets a fresh page.
"""

from __future__ import annotations

import math
import shutil
import threading
from pathlib import Path

import pytest
from refad.reports.explore import make_server
from refad.reports.explore_api import SEEDS
from refad.reports.graph_svg import AMBER, AMBER_TEXT

from refad import adapters, cases

pytestmark = pytest.mark.xdist_group("browser")
CHROMIUM = "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else (
    shutil.which("chromium") or shutil.which("chromium-browser"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
FRAMEWORK_WAIT_MS = 90_000          # the first request imports torch and jax


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="playwright is not installed (pip install playwright)")
    if not CHROMIUM:
        pytest.skip("no chromium binary: install Debian's `chromium` package (apt-get install "
                    "chromium); Playwright's own browser download is not used")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def url():
    server = make_server(0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture
def page(browser):
    """A fresh page that records every request and every script error."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    opened = context.new_page()
    opened.requests = []
    opened.errors = []
    opened.on("request", lambda request: opened.requests.append(request.url))
    opened.on("pageerror", lambda error: opened.errors.append(str(error)))
    yield opened
    context.close()


def open_explorer(page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("body[data-ready]")


def set_value(page, name: str, text: str) -> None:
    """Type into an input's number field, as a learner does, and commit it."""
    page.fill(f"#num-{name}", text)
    page.dispatch_event(f"#num-{name}", "change")


def shown(page, backend: str, quantity: str) -> str:
    """The full-precision number a results cell shows (its data-full attribute)."""
    selector = f'td[data-backend="{backend}"][data-quantity="{quantity}"][data-full]'
    timeout = 10_000 if backend == "refad" else FRAMEWORK_WAIT_MS
    page.wait_for_selector(selector, timeout=timeout)
    return page.get_attribute(selector, "data-full")


def engine(case) -> dict[str, float]:
    """refad's own numbers for a case: "value" and "d/dx" ..."""
    return {k: float(v) for k, v in adapters.get("refad").evaluate(case).quantities().items()}


def test_seed_forward_then_backward(page, url, tmp_path):
    open_explorer(page, url)
    options = page.eval_on_selector_all("#examples option", "found => found.map(o => o.value)")
    assert options[:3] == list(SEEDS)
    page.select_option("#examples", "seed-multivariate")
    assert page.input_value("#expr") == "x*y + sin(x)"
    set_value(page, "x", "1")
    set_value(page, "y", "2")
    page.click("#forward")
    page.wait_for_selector("#value[data-full]")
    expected = engine(cases.get("seed-multivariate"))
    assert float(page.get_attribute("#value", "data-full")) == expected["value"]
    assert page.locator('td[data-quantity="d/dx"]').count() == 0   # no gradient yet
    assert page.locator(f'#graph svg [fill="{AMBER_TEXT}"]').count() == 0
    assert "∂f/∂x = ?" in page.inner_text("#graph")

    page.click("#backward")
    assert shown(page, "refad", "d/dx") == "2.5403023058681398"
    assert float(shown(page, "refad", "d/dx")) == 2 + math.cos(1) == expected["d/dx"]
    assert float(shown(page, "refad", "d/dy")) == expected["d/dy"] == 1.0
    for framework in ("torch", "jax"):
        for quantity in ("value", "d/dx", "d/dy"):
            assert shown(page, framework, quantity) == shown(page, "refad", quantity), \
                f"{framework} {quantity}"
    assert page.locator("td.same").count() == 3                   # "✓ identical" per row
    graph = page.locator("#graph svg")
    assert graph.is_visible()
    assert page.locator(f'#graph svg [fill="{AMBER_TEXT}"]').count() > 0
    assert "∂f/∂x = 2.54" in page.inner_text("#graph")
    picture = tmp_path / "explore.png"
    page.screenshot(path=str(picture), full_page=True)
    assert picture.stat().st_size > 10_000
    assert all(u.startswith(url) or u.startswith("data:") for u in page.requests), page.requests
    assert page.errors == []


def test_slider_redraws_in_place(page, url):
    open_explorer(page, url)
    page.select_option("#examples", "seed-multivariate")
    page.click("#backward")
    shown(page, "refad", "d/dx")
    page.locator("#slider-x").fill("1.5")         # a drag ends on 1.5
    page.wait_for_selector('td[data-backend="refad"][data-quantity="d/dx"]'
                           f'[data-full="{2 + math.cos(1.5)!r}"]')
    assert page.input_value("#num-x") == "1.5"
    assert float(page.get_attribute("#value", "data-full")) == 1.5 * 2 + math.sin(1.5)
    assert page.locator("#graph svg").count() == 1
    assert page.errors == []


@pytest.mark.parametrize("text, message", [
    ("sinn(x) + x", "unknown function 'sinn' at column 1"),
    ("__import__('os')", "not allowed"),
    ("x +", "syntax error"),
])
def test_bad_expression_shows_a_message(page, url, text, message):
    open_explorer(page, url)
    page.fill("#expr", text)
    page.press("#expr", "Enter")
    page.wait_for_selector("#message.shown")
    said = page.inner_text("#message")
    assert said.startswith("bad expression:") and message in said, said
    assert "Traceback" not in page.content()
    assert page.locator("#graph svg").count() == 0
    page.click("#backward")                       # pressing on does not break anything
    assert "Traceback" not in page.inner_text("#message")
    assert page.errors == []


def test_bad_value_shows_a_message(page, url):
    open_explorer(page, url)
    set_value(page, "x", "abc")
    page.click("#forward")
    page.wait_for_selector("#message.shown")
    assert "the value of x is not a number: 'abc'" in page.inner_text("#message")
    set_value(page, "x", "1")
    page.click("#forward")
    page.wait_for_selector("#value[data-full]")
    assert not page.locator("#message").is_visible()


def test_typed_expression_gets_its_slider_and_gradient(page, url):
    open_explorer(page, url)
    page.fill("#expr", "sin(x)*x")
    page.press("#expr", "Enter")
    # The page opened with the first example's sliders (x and y): wait for them to be
    # replaced, not for a slider-x that may still be the old one.
    page.wait_for_function("() => !document.querySelector('#slider-y')")
    sliders = page.eval_on_selector_all("#inputs input[type=range]",
                                        "found => found.map(s => s.id)")
    assert sliders == ["slider-x"]
    set_value(page, "x", "1")
    page.click("#backward")
    expected = engine(cases.expression_case("typed", "sin(x)*x", {"x": 1.0}, "test"))
    assert float(shown(page, "refad", "d/dx")) == expected["d/dx"]
    assert float(shown(page, "refad", "value")) == expected["value"]
    assert float(shown(page, "torch", "d/dx")) == expected["d/dx"]
    assert page.input_value("#examples") == ""    # the dropdown says: your own expression


def test_numbers_are_written_as_python_writes_them(page, url):
    open_explorer(page, url)
    numbers = [2.5403023058681398, 1.0, -0.0, 0.1 + 0.2, 1e16, 1e15, 1e-4, 1e-5, 1.5e-7,
               5e-324, 1e-310, 1.7976931348623157e308, -123.25, 123456789012345680.0]
    written = page.evaluate("(xs) => xs.map(pyRepr)", numbers)
    assert written == [repr(x) for x in numbers]
    assert page.evaluate("() => ['nan', 'inf', '-inf'].map(pyRepr)") == ["nan", "inf", "-inf"]


def test_report_html_screenshot(page, tmp_path):
    from refad.reports.runner import run
    from refad.reports.writers import write_report

    done = run([cases.get("seed-multivariate")], backends=["refad"], dtypes=["float64"],
               progress=False)
    report = write_report(done, tmp_path)["report.html"]
    page.goto(Path(report).resolve().as_uri())
    verdict = page.locator(".verdict")
    assert verdict.is_visible()
    assert "all agree" in verdict.inner_text()
    amber = page.locator(f'svg [fill="{AMBER}"], svg [stroke="{AMBER}"], '
                         f'svg [fill="{AMBER_TEXT}"]')
    assert amber.count() > 0 and page.locator("svg").first.is_visible()
    picture = tmp_path / "report.png"
    page.screenshot(path=str(picture), full_page=True)
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert picture.stat().st_size > 10_000
    assert page.requests and all(u.startswith("file://") for u in page.requests), page.requests
    assert page.errors == []
