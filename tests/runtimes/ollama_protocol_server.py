"""A small HTTP server speaking the parts of the Ollama protocol our runtime
uses (``GET /api/tags``, ``POST /api/chat`` as an NDJSON stream), backed by a
real model: ``llama_cpp.Llama`` with the bundled SmolLM2. There is no Ollama
on the test machine; this lets the runtime's real HTTP path run against a
real model. Every ``/api/chat`` body is kept in ``requests`` so tests can
assert what was sent (``options.num_ctx``).

Tools: a request with ``tools`` is answered the way Ollama answers for a
tools-trained model, but by our own means, since SmolLM2's template takes no
tools: the tools are listed in a ChatML system turn (``tools_prompt``) and
the reply is constrained by a llama.cpp grammar (``LlamaGrammar.from_json_schema``)
to one call ``{"name": <an offered tool>, "arguments": <its schema>}``,
which comes back as ``message.tool_calls`` with dict arguments (a reply
that does not parse -- cut off by ``num_predict`` -- comes back as text, as
Ollama does). So this server always calls a tool when offered one; whether
to call at all is not modelled. Models named in ``no_tools`` answer a
request with tools the way Ollama does for models whose template has none:
HTTP 400 ``"<model> does not support tools"``.

``POST /api/pull`` (for the model manager) streams the progress lines
Ollama sends (``pulling manifest``, per layer ``{status, digest, total,
completed}``, ``verifying sha256 digest``, ``writing manifest``,
``success``) for the models in ``pullable`` (name -> layer sizes), and an
``error`` line for any other name, as Ollama does; a pulled model then
appears in ``/api/tags``. ``pull_delay_s`` paces the lines (so a test can
cancel mid-pull) and ``pull_closed`` records whether the client hung up
before the end. The model is loaded only when ``/api/chat`` is first used.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

MODEL_NAME = "smollm2:135m"


def tools_prompt(messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> str:
    """ChatML with the tools listed in the system turn (SmolLM2's own framing)."""
    listed = "\n".join(json.dumps(t["function"]) for t in tools)
    system = next((m["content"] for m in messages if m["role"] == "system"), "")
    system += (
        "\n\nYou can call these tools. To call one, reply with one JSON object "
        f'{{"name": <tool name>, "arguments": {{...}}}}.\nTools:\n{listed}'
    )
    turns = [{"role": "system", "content": system.strip()}]
    turns += [m for m in messages if m["role"] != "system"]
    body = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in turns)
    return body + "<|im_start|>assistant\n"


def call_schema(tools: list[dict[str, Any]]) -> dict[str, Any]:
    """One call of one of ``tools``: its name a constant, its arguments its schema."""
    options = [
        {
            "type": "object",
            "properties": {
                "name": {"const": t["function"]["name"]},
                "arguments": t["function"].get("parameters") or {"type": "object"},
            },
            "required": ["name", "arguments"],
        }
        for t in tools
    ]
    return options[0] if len(options) == 1 else {"anyOf": options}


class OllamaProtocolServer:
    def __init__(
        self,
        model_path: Path,
        no_tools: tuple[str, ...] = (),
        pullable: dict[str, list[int]] | None = None,
        pull_steps: int = 4,
    ) -> None:
        self.model_path = model_path
        self._llm: Any = None
        self.requests: list[dict[str, Any]] = []
        self.models: tuple[str, ...] = (MODEL_NAME, *no_tools)
        self.pullable = dict(pullable or {})
        self.pull_steps = pull_steps
        self.pull_delay_s = 0.0
        self.pull_closed = False
        self.no_tools = set(no_tools)
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
        if self._llm is not None:
            self._llm.close()

    @property
    def llm(self) -> Any:
        if self._llm is None:
            from llama_cpp import Llama

            self._llm = Llama(
                model_path=str(self.model_path), n_ctx=2048, n_threads=1, verbose=False
            )
        return self._llm

    def _pull(self, body: dict[str, Any], write: Any) -> None:
        import hashlib

        name = body.get("model") or body.get("name") or ""
        write({"status": "pulling manifest"})
        if name not in self.pullable:
            write({"error": "pull model manifest: file does not exist"})
            return
        for i, size in enumerate(self.pullable[name]):
            digest = "sha256:" + hashlib.sha256(f"{name}/{i}".encode()).hexdigest()
            status = f"pulling {digest[7:19]}"
            for step in range(self.pull_steps + 1):
                done = size * step // self.pull_steps
                write({"status": status, "digest": digest, "total": size, "completed": done})
                time.sleep(self.pull_delay_s)
        for status in ("verifying sha256 digest", "writing manifest", "success"):
            write({"status": status})
        if name not in self.models:
            self.models = (*self.models, name)

    def _tool_chat(self, body: dict[str, Any], write: Any) -> None:
        from llama_cpp import LlamaGrammar

        options = body.get("options") or {}
        prompt = tools_prompt(body["messages"], body["tools"])
        grammar = LlamaGrammar.from_json_schema(json.dumps(call_schema(body["tools"])))
        start = time.perf_counter_ns()
        with self._lock:
            out = self.llm.create_completion(
                prompt,
                max_tokens=options.get("num_predict", 128),
                temperature=options.get("temperature", 0.0),
                grammar=grammar,
            )
            prompt_tokens = len(self.llm.tokenize(prompt.encode(), special=True))
        end = time.perf_counter_ns()
        text = out["choices"][0]["text"]  # type: ignore[index]
        produced = out["usage"]["completion_tokens"]  # type: ignore[index]
        message: dict[str, Any] = {"role": "assistant", "content": text}
        try:
            call = json.loads(text)
            message = {"role": "assistant", "content": "", "tool_calls": [
                {"function": {"name": call["name"], "arguments": call["arguments"]}}]}  # fmt: skip
        except (json.JSONDecodeError, KeyError, TypeError):
            pass
        write({"model": body["model"], "message": message, "done": False})
        write({
            "model": body["model"], "message": {"role": "assistant", "content": ""},
            "done": True, "done_reason": "stop", "prompt_eval_count": prompt_tokens,
            "prompt_eval_duration": max(end - start, 1), "eval_count": produced,
            "eval_duration": max(end - start, 1),
        })  # fmt: skip

    def _chat(self, body: dict[str, Any], write: Any) -> None:
        if body.get("tools"):
            return self._tool_chat(body, write)
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
                models = [{"name": name, "model": name, "size": 1, "digest": "x",
                           "modified_at": "2026-01-01T00:00:00Z", "details": details}
                          for name in server.models]  # fmt: skip
                self._json(200, {"models": models})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path == "/api/pull":
                    self.send_response(200)
                    self.send_header("Content-Type", "application/x-ndjson")
                    self.end_headers()

                    def line(obj: dict[str, Any]) -> None:
                        self.wfile.write(json.dumps(obj).encode() + b"\n")
                        self.wfile.flush()

                    try:
                        server._pull(body, line)
                    except (BrokenPipeError, ConnectionResetError):
                        server.pull_closed = True
                    return None
                if self.path != "/api/chat":
                    return self._json(404, {"error": "not found"})
                server.requests.append(body)
                if body.get("model") not in server.models:
                    return self._json(404, {"error": f"model '{body.get('model')}' not found"})
                if body.get("tools") and body["model"] in server.no_tools:
                    error = f"registry.ollama.ai/library/{body['model']} does not support tools"
                    return self._json(400, {"error": error})
                self.send_response(200)
                self.send_header("Content-Type", "application/x-ndjson")
                self.end_headers()

                def write(obj: dict[str, Any]) -> None:
                    self.wfile.write(json.dumps(obj).encode() + b"\n")
                    self.wfile.flush()

                server._chat(body, write)

        return Handler
