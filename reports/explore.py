"""`refad explore`: the textbook's widget as a local web page, computed by refad.

A small server from the standard library, bound to 127.0.0.1 only. It serves one page
(`reports/static/explore.html`: inline CSS and JavaScript, nothing fetched from elsewhere)
and four JSON endpoints (the work is in `reports.explore_api`):

    GET  /api/cases       the dropdown: the seed's three expressions, then the catalogue's
    POST /api/parse       {"expr"} -> {"variables"}: the sliders for a typed expression
    POST /api/evaluate    {"expr", "values", "stage"} -> {"value", "gradients", "svg", ...}
    POST /api/frameworks  {"expr", "values"} -> PyTorch's and JAX's value and gradients

Bad input gets status 400 and {"error": message}; nothing a request does stops the server.
"""

from __future__ import annotations

import json
import sys
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from . import explore_api
from .explore_api import MAX_BODY, ApiError

HOST = "127.0.0.1"
PAGE = Path(__file__).parent / "static" / "explore.html"
# The page may run its own inline script and talk to this server, and nothing else.
CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
       "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; "
       "frame-ancestors 'none'")
_GETS = {"/api/cases": lambda: explore_api.case_list()}
_POSTS = {"/api/parse": explore_api.variables, "/api/evaluate": explore_api.evaluate,
          "/api/frameworks": explore_api.frameworks}


class ExploreHandler(BaseHTTPRequestHandler):
    """Serves the page and the API; every answer is complete, every failure a JSON message."""

    server_version = "refad-explore"
    error_content_type = "application/json"
    error_message_format = '{"error": "%(message)s (%(code)d)"}'

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        path = self.path.split("?", 1)[0]
        if not self._host_ok():
            return
        if path in ("/", "/index.html"):
            self._send(HTTPStatus.OK, PAGE.read_bytes(), "text/html; charset=utf-8",
                       {"Content-Security-Policy": CSP})
        elif path in _GETS:
            self._json(HTTPStatus.OK, _GETS[path]())
        else:
            self._json(HTTPStatus.NOT_FOUND, {"error": f"no page {path[:80]!r} here"})

    def do_POST(self) -> None:  # noqa: N802
        path = self.path.split("?", 1)[0]
        if not self._host_ok():
            return
        if path not in _POSTS:
            self._json(HTTPStatus.NOT_FOUND, {"error": f"no endpoint {path[:80]!r} here"})
            return
        try:
            payload = explore_api.decode(self._body())
            self._json(HTTPStatus.OK, _POSTS[path](payload))
        except ApiError as error:
            self._json(error.status, {"error": str(error)})
        except Exception as error:  # noqa: BLE001 - one line on stderr, the server goes on
            message = f"internal error in {path}: {type(error).__name__}: {error}"
            print(f"refad explore: {message}", file=sys.stderr)
            self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": message})

    def _body(self) -> bytes:
        """The request body, at most MAX_BODY bytes, sent as JSON (which a form cannot)."""
        kind = self.headers.get("Content-Type", "")
        if not kind.split(";")[0].strip().lower() == "application/json":
            raise ApiError(415, f"send the request as application/json, not {kind[:60]!r}")
        length = self.headers.get("Content-Length", "")
        if not length.isdigit():
            raise ApiError(411, f"a Content-Length is needed, got {length[:20]!r}")
        if int(length) > MAX_BODY:
            self.close_connection = True        # the unread body must not become a request
            raise ApiError(413, f"the request has {int(length)} bytes; the limit is {MAX_BODY}")
        return self.rfile.read(int(length))

    def _host_ok(self) -> bool:
        """Refuse another site's name pointed at 127.0.0.1 (DNS rebinding)."""
        port = self.server.server_address[1]
        host = self.headers.get("Host", "")
        if host in (f"{HOST}:{port}", f"localhost:{port}"):
            return True
        self._json(HTTPStatus.FORBIDDEN, {"error": f"unexpected Host header {host[:80]!r}"})
        return False

    def _json(self, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload, allow_nan=False).encode("utf-8")
        self._send(status, body, "application/json")

    def _send(self, status: int, body: bytes, kind: str,
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Quiet: the terminal shows the address and errors, not every request."""


def make_server(port: int = 0) -> ThreadingHTTPServer:
    """A server on 127.0.0.1:`port` (0: a free port), not yet serving.

    Call `serve_forever()` (in a thread, for tests) and `shutdown()`, `server_close()`.
    """
    server = ThreadingHTTPServer((HOST, port), ExploreHandler)
    server.daemon_threads = True        # a slow framework import must not hold up Ctrl-C
    return server


def run_explore(args) -> int:
    """`refad explore [--port N]`: serve until Ctrl-C, then exit 0.

    Raises:
        UsageError: the port is out of range or cannot be listened on.
    """
    from .usage import UsageError

    port = getattr(args, "port", 0) or 0
    if not 0 <= port <= 65535:
        raise UsageError(f"--port {port} is not a port number (0 to 65535; 0 picks a free one)")
    try:
        server = make_server(port)
    except OSError as error:
        raise UsageError(f"cannot listen on {HOST}:{port}: {error.strerror or error}") from None
    url = f"http://{HOST}:{server.server_address[1]}/"
    print(f"refad explore: serving on {url} (Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("refad explore: stopped", file=sys.stderr)
    finally:
        server.server_close()
    return 0
