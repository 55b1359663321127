"""A small HTTP server speaking the parts of the Ollama protocol our runtime
uses (``GET /api/tags``, ``POST /api/chat`` as an NDJSON stream), backed by a
real model: ``llama_cpp.Llama`` with the bundled SmolLM2. There is no Ollama
on the test machine; this lets the runtime's real HTTP path run against a
real model. Every ``/api/chat`` body is kept in ``requests`` so tests can
assert what was sent (``options.num_ctx``)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

MODEL_NAME = "smollm2:135m"


class OllamaProtocolServer:
    def __init__(self, model_path: Path) -> None:
        from llama_cpp import Llama

        self.llm = Llama(model_path=str(model_path), n_ctx=2048, n_threads=1, verbose=False)
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> OllamaProtocolServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.llm.close()

    def _chat(self, body: dict[str, Any], write: Any) -> None:
        options = body.get("options") or {}
        kwargs: dict[str, Any] = {
            "messages": body["messages"],
            "max_tokens": options.get("num_predict", 64),
            "temperature": options.get("temperature", 0.0),
            "stream": True,
        }
        if isinstance(body.get("format"), dict):
            kwargs["response_format"] = {"type": "json_object", "schema": body["format"]}
        start = time.perf_counter_ns()
        first = None
        pieces = 0
        with self._lock:
            for chunk in self.llm.create_chat_completion(**kwargs):
                text = chunk["choices"][0]["delta"].get("content")  # type: ignore[index,union-attr]
                if text:
                    first = first or time.perf_counter_ns()
                    pieces += 1
                    write({"model": body["model"], "message": {"role": "assistant",
                           "content": text}, "done": False})  # fmt: skip
            prompt = len(self.llm.tokenize(json.dumps(body["messages"]).encode()))
        end = time.perf_counter_ns()
        write({
            "model": body["model"], "message": {"role": "assistant", "content": ""},
            "done": True, "done_reason": "stop", "prompt_eval_count": prompt,
            "prompt_eval_duration": (first or end) - start, "eval_count": pieces,
            "eval_duration": end - (first or end),
        })  # fmt: skip

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _json(self, status: int, data: dict[str, Any]) -> None:
                raw = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self) -> None:
                if self.path != "/api/tags":
                    return self._json(404, {"error": "not found"})
                details = {"parameter_size": "135M", "quantization_level": "Q4_1"}
                model = {"name": MODEL_NAME, "model": MODEL_NAME, "size": 1, "digest": "x",
                         "modified_at": "2026-01-01T00:00:00Z", "details": details}  # fmt: skip
                self._json(200, {"models": [model]})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path != "/api/chat":
                    return self._json(404, {"error": "not found"})
                server.requests.append(body)
                if body.get("model") != MODEL_NAME:
                    return self._json(404, {"error": f"model '{body.get('model')}' not found"})
                self.send_response(200)
                self.send_header("Content-Type", "application/x-ndjson")
                self.end_headers()

                def write(obj: dict[str, Any]) -> None:
                    self.wfile.write(json.dumps(obj).encode() + b"\n")
                    self.wfile.flush()

                server._chat(body, write)

        return Handler
