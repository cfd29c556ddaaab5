"""A scripted OpenAI-compatible engine (stdlib HTTP) for the driver's failure paths: it records
every request and answers from a list of behaviours, one per /v1/completions request."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeEngine:
    """`behaviours`: per completion request, "ok" (streams `words`), "503" (fails), "drop"
    (one piece, then the connection closes), "slow" (waits `slow_s` before answering)."""

    def __init__(self, behaviours: list[str], words: list[str] | None = None, slow_s: float = 3.0):
        self.behaviours = list(behaviours)
        self.words = words or ["Hello", " there", "."]
        self.slow_s = slow_s
        self.requests: list[dict] = []
        engine = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _json(self, code: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                if self.path == "/v1/models":
                    self._json(200, {"object": "list", "data": [{"id": "fake", "max_model_len": 2048}]})
                else:
                    self._json(404, {"error": "not found"})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                if self.path != "/v1/completions":
                    self._json(404, {"error": "not found"})
                    return
                engine.requests.append(body)
                how = engine.behaviours.pop(0) if engine.behaviours else "ok"
                if how == "503":
                    self._json(503, {"error": "loading"})
                    return
                if how == "slow":
                    time.sleep(engine.slow_s)
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                words = engine.words[:1] if how == "drop" else engine.words
                for w in words:
                    chunk = {"choices": [{"index": 0, "text": w, "finish_reason": None}]}
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    self.wfile.flush()
                if how == "drop":
                    self.wfile.write(b"data: {\"choi")  # cut off mid-event
                    self.wfile.flush()
                    self.close_connection = True
                    return
                end = {"choices": [{"index": 0, "text": "", "finish_reason": "stop"}]}
                self.wfile.write(f"data: {json.dumps(end)}\n\ndata: [DONE]\n\n".encode())
                self.wfile.flush()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> FakeEngine:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
