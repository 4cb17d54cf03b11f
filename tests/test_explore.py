"""`refad explore`'s server and JSON API, without a browser (tests/test_browser.py has one).

The server runs in a thread on a free port; every number it returns is checked against the
engine's own (`adapters.get("refad")`) and, for the frameworks, against refad's, exactly.
"""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from argparse import Namespace
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from refad.reports.cli import UsageError
from refad.reports.compare import ulp_distance
from refad.reports.explore import make_server, run_explore
from refad.reports.explore_api import MAX_BODY, SEEDS, forward_only
from refad.reports.graph_svg import AMBER_TEXT, case_svg
from refad.reports.writers import json_ready

import refad
from refad import adapters, cases

pytestmark = pytest.mark.xdist_group("explore")
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def server():
    """The explorer on 127.0.0.1, a free port, serving from a thread."""
    httpd = make_server(0)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def url(server) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


def request(url: str, path: str, body=None, headers: dict | None = None,
            raw: bytes | None = None) -> tuple[int, dict]:
    """(status, decoded JSON) of a GET (no body) or a JSON POST."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    sent = {"Content-Type": "application/json"} if data is not None else {}
    sent.update(headers or {})
    req = urllib.request.Request(url + path, data=data, headers=sent)
    try:
        with urllib.request.urlopen(req, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def evaluate(url: str, expr: str, values: dict, stage: str = "backward") -> tuple[int, dict]:
    return request(url, "/api/evaluate", {"expr": expr, "values": values, "stage": stage})


def test_binds_loopback_only(server):
    host, port = server.server_address[:2]
    assert host == "127.0.0.1"
    assert server.socket.family == socket.AF_INET
    assert port > 0


def test_seed_pause_and_check_exact(url):
    status, out = evaluate(url, "x*y + sin(x)", {"x": 1.0, "y": 2.0})
    assert status == 200, out
    assert out["gradients"]["x"] == 2 + math.cos(1) == 2.5403023058681398
    assert out["gradients"]["y"] == 1.0
    assert out["value"] == 2 + math.sin(1)
    assert out["variables"] == ["x", "y"]
    assert out["svg"].startswith("<svg")


@pytest.mark.parametrize("name", [case.name for case in cases.CATALOGUE
                                  if case.family == "seed"])
def test_seed_numbers_are_the_engines(url, name):
    case = cases.get(name)
    expected = adapters.get("refad").evaluate(case, "float64", 1)
    texts = {k: repr(float(v)) for k, v in case.inputs.items()}
    status, out = evaluate(url, case.expr, texts)
    assert status == 200, out
    assert out["value"] == float(expected.value), f"{name}: value"
    for input_name, grad in expected.grad.items():
        assert out["gradients"][input_name] == float(grad), f"{name}: d/d{input_name}"


@pytest.mark.parametrize("name", [case.name for case in cases.CATALOGUE
                                  if case.expr and case.is_scalar])
def test_every_listed_case_draws_the_engines_numbers(url, name):
    case = cases.get(name)
    # The explorer evaluates the text, as the engine does: a fuzz case's own function is a
    # DAG whose shared nodes the text writes out twice, so it may round differently.
    typed = cases.expression_case(name, case.expr, case.inputs, "test")
    expected = adapters.get("refad").evaluate(typed, "float64", 1).quantities()
    texts = {k: repr(float(v)) for k, v in case.inputs.items()}
    status, forward = evaluate(url, case.expr, texts, stage="forward")
    assert status == 200, forward
    assert forward["svg"].startswith("<svg")
    status, out = evaluate(url, case.expr, texts)
    assert status == 200, out
    found = {"value": out["value"], **{f"d/d{k}": v for k, v in out["gradients"].items()}}
    assert set(found) == set(expected)
    for quantity, number in expected.items():
        assert json_ready(number) == found[quantity], f"{name}: {quantity}"


def test_forward_stage_hides_every_gradient(url):
    status, out = evaluate(url, "x*y + sin(x)", {"x": 1, "y": 2}, stage="forward")
    assert status == 200
    assert out["gradients"] == {}
    assert out["value"] == 2 + math.sin(1)
    svg = out["svg"]
    assert f'fill="{AMBER_TEXT}"' not in svg
    assert "∂f/∂x = ?" in svg and "∂f/∂y = ?" in svg
    assert "gradient" not in svg                      # nor in the tooltips
    assert "= 0.8415" in svg                          # sin(1), the forward values stay
    _, backward = evaluate(url, "x*y + sin(x)", {"x": 1, "y": 2})
    assert f'fill="{AMBER_TEXT}"' in backward["svg"]
    assert "∂f/∂x = 2.54" in backward["svg"]


def test_forward_only_keeps_the_layout():
    full = case_svg(cases.get("seed-neuron"))
    svg = forward_only(full)
    assert svg.startswith('<svg class="graph"') and "∂f/∂w = ?" in svg
    assert full.split(">", 1)[0] == svg.split(">", 1)[0]       # same width and height


def test_cases_list_seeds_first_then_scalar_catalogue(url):
    status, out = request(url, "/api/cases")
    assert status == 200
    listed = out["cases"]
    assert [c["name"] for c in listed[:3]] == list(SEEDS)
    assert [c["expr"] for c in listed[:3]] == ["x*y + sin(x)", "tanh(w*x + b)", "sin(x) * x"]
    names = {c["name"] for c in listed}
    assert len(names) == len(listed) > 100
    for entry in listed:
        case = cases.get(entry["name"])
        assert case.expr == entry["expr"] and case.is_scalar
        assert {k: float(v) for k, v in entry["text"].items()} == dict(case.inputs)
    negative_zero = next(c for c in listed if c["name"] == "abs-at-negative-zero")
    assert negative_zero["text"] == {"x": "-0.0"}     # kept where JSON numbers lose the sign


def test_parse_names_the_variables(url):
    assert request(url, "/api/parse", {"expr": "sin(x)*x"}) == (
        200, {"expr": "sin(x)*x", "variables": ["x"]})
    status, out = request(url, "/api/parse", {"expr": "tanh(w*x + b)"})
    assert out["variables"] == ["w", "x", "b"]


@pytest.mark.parametrize("text", ["sinn(x)", "x +", "x.__class__", "__import__('os')",
                                  "open('/etc/passwd')", "(lambda: 1)()", "x[0]", ""])
def test_bad_expression_is_400_with_the_parsers_message(url, text):
    with pytest.raises(refad.ParseError) as parsed:
        refad.parse(text)
    for path, body in (("/api/evaluate", {"expr": text, "values": {"x": 1}}),
                       ("/api/parse", {"expr": text}),
                       ("/api/frameworks", {"expr": text, "values": {"x": 1}})):
        status, out = request(url, path, body)
        assert status == 400, (path, text, out)
        assert out == {"error": f"bad expression: {parsed.value}"}
        assert "Traceback" not in out["error"]


@pytest.mark.parametrize("body, message", [
    ({"expr": "x*y + sin(x)", "values": {"x": 1}}, "missing value for y"),
    ({"expr": "x", "values": {"x": 1, "z": 2}}, "unexpected variable z"),
    ({"expr": "x", "values": {"x": "abc"}}, "the value of x is not a number: 'abc'"),
    ({"expr": "x", "values": {"x": True}}, "the value of x is not a number"),
    ({"expr": "x", "values": {"x": None}}, "the value of x is not a number"),
    ({"expr": "sum(x)", "values": {"x": [1, 2]}}, "x is a list"),
    ({"expr": "x", "values": [1]}, "values must be an object"),
    ({"expr": 3, "values": {}}, "expr must be a string, not int"),
    ({"expr": "x", "values": {"x": 1}, "stage": "sideways"}, "stage must be 'forward'"),
])
def test_bad_input_is_400_with_a_message(url, body, message):
    status, out = request(url, "/api/evaluate", body)
    assert status == 400, out
    assert message in out["error"]


def test_bad_requests_get_json_errors(url):
    assert request(url, "/api/evaluate", raw=b"{not json")[0] == 400
    assert request(url, "/api/evaluate", raw=b"[1, 2]")[0] == 400
    assert request(url, "/api/evaluate", raw=b"\xff\xfe")[0] == 400
    status, out = request(url, "/api/evaluate", raw=b"x" * (MAX_BODY + 1))
    assert status == 413 and str(MAX_BODY) in out["error"]
    status, out = request(url, "/api/evaluate", raw=b"expr=x",
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 415
    for path in ("/etc/passwd", "/../reports/explore.py", "/static/explore.html", "/api"):
        assert request(url, path)[0] == 404, path
    assert request(url, "/api/nothing", {"expr": "x"})[0] == 404
    status, out = request(url, "/", headers={"Host": "attacker.example:80"})
    assert status == 403 and "Host" in out["error"]


def test_server_survives_and_answers_afterwards(url):
    for text in ("__import__('os').system('true')", "x" * 20_000, "(" * 500 + "x",
                 "1e308 * 1e308", "x ** 1e308"):
        status, out = evaluate(url, text, {"x": 2})
        assert status in (200, 400), (text, out)
    status, out = evaluate(url, "x*y + sin(x)", {"x": 1, "y": 2})
    assert status == 200 and out["gradients"]["x"] == 2.5403023058681398
    assert request(url, "/api/cases")[0] == 200


def test_non_finite_numbers_are_strings(url):
    status, out = evaluate(url, "log(x)", {"x": "-0.0"})
    assert status == 200
    assert out["inputs"] == {"x": -0.0} and math.copysign(1, out["inputs"]["x"]) == -1
    assert out["value"] == "-inf" and out["gradients"]["x"] == "-inf"
    status, out = evaluate(url, "x * 1", {"x": "nan"})
    assert out["value"] == "nan" and out["gradients"] == {"x": 1.0}


def test_concurrent_requests_each_get_their_own_numbers(url):
    points = [0.25 * k for k in range(12)]

    def gradient(x: float) -> float:
        return evaluate(url, "x*y + sin(x)", {"x": x, "y": 2.0})[1]["gradients"]["x"]

    with ThreadPoolExecutor(6) as pool:
        found = list(pool.map(gradient, points))
    assert found == [2.0 + math.cos(x) for x in points]


@pytest.mark.parametrize("name", SEEDS)
def test_frameworks_agree_with_refad(url, name):
    """Each framework's numbers, and how far from refad's they are, as the report judges it."""
    case = cases.get(name)
    mine = adapters.get("refad").evaluate(case, "float64", 1).quantities()
    status, out = request(url, "/api/frameworks", {"expr": case.expr,
                                                   "values": dict(case.inputs)})
    assert status == 200, out
    for framework in ("torch", "jax"):
        entry = out["frameworks"][framework]
        if entry["status"] == "unavailable":
            assert entry["message"], framework
            continue
        assert entry["status"] == "ok", entry
        theirs = {"value": entry["value"]}
        theirs.update({f"d/d{k}": v for k, v in entry["gradients"].items()})
        assert set(theirs) == set(mine) == set(entry["compared"])
        for quantity, number in theirs.items():
            expected = float(mine[quantity])
            found = entry["compared"][quantity]
            where = f"{name}: {framework} {quantity}: {number!r} vs refad {expected!r}"
            assert found["status"] == "ok", where
            assert found["ulp"] == ulp_distance(number, expected, "float64"), where
            assert (found["ulp"] == 0) == (number == expected), where


def test_pause_and_check_is_identical_in_every_framework(url):
    status, out = request(url, "/api/frameworks", {"expr": "x*y + sin(x)",
                                                   "values": {"x": 1, "y": 2}})
    for framework, entry in out["frameworks"].items():
        if entry["status"] != "unavailable":
            assert entry["gradients"] == {"x": 2.5403023058681398, "y": 1.0}, framework
            assert entry["value"] == 2 + math.sin(1), framework


def test_page_is_self_contained(url):
    with urllib.request.urlopen(url + "/", timeout=30) as response:
        page = response.read().decode()
        policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy
    assert "<script src" not in page and "http://" not in page and "https://" not in page
    assert 'id="forward"' in page and 'id="backward"' in page


def test_run_explore_rejects_a_bad_or_busy_port():
    with pytest.raises(UsageError, match="not a port number"):
        run_explore(Namespace(port=70000))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(UsageError, match="cannot listen on 127.0.0.1"):
            run_explore(Namespace(port=taken.getsockname()[1]))


def test_command_prints_the_address_and_stops_cleanly_on_ctrl_c():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    process = subprocess.Popen([sys.executable, "-m", "refad.reports.cli", "explore"], cwd=ROOT,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    try:
        line = process.stdout.readline()
        assert line.startswith("refad explore: serving on http://127.0.0.1:"), line
        address = line.split()[4]
        with urllib.request.urlopen(address, timeout=30) as response:
            assert response.status == 200
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert "Traceback" not in err
