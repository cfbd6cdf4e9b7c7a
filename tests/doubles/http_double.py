"""What every local provider double shares: a threaded HTTP server on 127.0.0.1 and a free
port, started and stopped with the double (a context manager), and a queue of injected
failures the handler takes one per request.

    class MyDouble(LocalHttpDouble):
        handler = _Handler          # an http.server.BaseHTTPRequestHandler; self.server.double is the double
        thread_name = "my-double"
"""

from __future__ import annotations

import http.server
import threading
from collections import deque


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    double: "LocalHttpDouble"

    def handle_error(self, request, client_address):  # a client that timed out closed its socket: not an error
        pass


class LocalHttpDouble:
    handler: type[http.server.BaseHTTPRequestHandler]
    thread_name = "http-double"

    def __init__(self) -> None:
        self.url = ""
        self._lock = threading.Lock()
        self._injections: deque = deque()
        self._stopping = threading.Event()   # set on stop: wakes the handlers of stalled requests
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self):  # noqa: ANN201
        self._stopping.clear()
        self._server = _Server(("127.0.0.1", 0), self.handler)
        self._server.double = self
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=self.thread_name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self):  # noqa: ANN204
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def _inject(self, *injections: tuple) -> None:
        with self._lock:
            self._injections.extend(injections)

    def _take_injection(self):  # noqa: ANN202
        with self._lock:
            return self._injections.popleft() if self._injections else None

    def _stall(self, seconds: float) -> None:
        self._stopping.wait(seconds)
