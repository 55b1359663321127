"""A loopback stand-in for the Hugging Face Hub, serving real files.

It speaks the subset of the Hub's HTTP API that the installed huggingface_hub
(2.x) uses for what ``backend.modelhub`` does:

- ``GET /api/models?search=&filter=gguf&sort=&limit=``: search (a JSON list);
- ``GET /api/models/{repo}`` and ``/api/models/{repo}/revision/{rev}``:
  model info with ``sha``, ``gated`` and ``siblings``; with ``?blobs=true``
  (``files_metadata=True``) each sibling has ``size``, ``blobId`` and, for
  LFS files, ``lfs: {sha256, size, pointerSize}``;
- ``GET /api/models/{repo}/tree/{rev}[/{path}]?recursive=``: the tree listing
  (``type``, ``path``, ``size``, ``oid``, ``lfs: {oid, size, pointerSize}``);
- ``HEAD``/``GET /{repo}/resolve/{rev}/{file}``: the file, with ``ETag``,
  ``X-Repo-Commit``, ``X-Linked-Etag``/``X-Linked-Size`` (LFS files),
  ``Content-Length``, ``Accept-Ranges`` and ``Range`` requests (206, or 416
  past the end);
- errors the way the Hub sends them: ``X-Error-Code: RepoNotFound``,
  ``RevisionNotFound``, ``EntryNotFound``, ``GatedRepo``.

Switches for tests: ``corrupt`` (file names served with 64 flipped bytes in
the middle: right size, wrong content), ``cut_after`` (file name -> stop the
next response after that many body bytes and drop the connection, once),
``fail_next`` (file name -> answer that many next GETs with HTTP 503),
``throttle_bps``, and byte counters (``sent``: one record per response,
``bytes_sent(name)``) so a test can assert how much a run transferred.
``stop()`` closes the port (no network).
The repos and the JSON payloads are in ``hub_repos``.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from .hub_repos import Repo, ServedFile, model_json, tree_json

BODY_CHUNK = 64 * 1024


@dataclass
class Sent:
    method: str
    file: str
    start: int
    bytes: int


@dataclass
class HubServer:
    token: str = "hf_test_token"
    repos: dict[str, Repo] = field(default_factory=dict)
    corrupt: set[str] = field(default_factory=set)
    cut_after: dict[str, int] = field(default_factory=dict)
    fail_next: dict[str, int] = field(default_factory=dict)
    throttle_bps: int | None = None
    sent: list[Sent] = field(default_factory=list)
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._running = False

    # ---------------------------------------------------------------- set-up
    def add_repo(
        self,
        repo_id: str,
        files: dict[str, Path | bytes],
        *,
        gated: bool = False,
        tags: tuple[str, ...] = ("gguf",),
        downloads: int = 0,
    ) -> Repo:
        commit = hashlib.sha1(repo_id.encode()).hexdigest()
        served = {path: ServedFile.make(path, src) for path, src in files.items()}
        repo = Repo(repo_id, commit, served, gated, tags, downloads)
        self.repos[repo_id] = repo
        return repo

    def start(self) -> HubServer:
        self._thread.start()
        self._running = True
        return self

    def stop(self) -> None:
        if self._running:
            self.httpd.shutdown()
            self.httpd.server_close()
            self._running = False

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Clear switches and counters (between tests)."""
        self.corrupt.clear()
        self.cut_after.clear()
        self.fail_next.clear()
        self.throttle_bps = None
        with self._lock:
            self.sent.clear()
            self.requests.clear()

    # -------------------------------------------------------------- counters
    def bytes_sent(self, name: str | None = None) -> int:
        """Body bytes sent so far (for files whose name ends with ``name``)."""
        with self._lock:
            return sum(s.bytes for s in self.sent if name is None or s.file.endswith(name))

    def gets(self, name: str) -> list[Sent]:
        with self._lock:
            return [s for s in self.sent if s.method == "GET" and s.file.endswith(name)]

    def _record(self, rec: Sent) -> None:
        with self._lock:
            self.sent.append(rec)


def _handler(server: HubServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        # ------------------------------------------------------------ helpers
        def _json(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
            raw = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(raw)

        def _error(self, status: int, code: str, message: str, **headers: str) -> None:
            self._json(
                status,
                {"error": message},
                {"X-Error-Code": code, "X-Error-Message": message, **headers},
            )

        def _repo(self, repo_id: str, rev: str | None) -> Repo | None:
            repo = server.repos.get(repo_id)
            if repo is None:
                self._error(404, "RepoNotFound", "Repository not found")
                return None
            if rev not in (None, "main", repo.commit):
                self._error(404, "RevisionNotFound", "Invalid rev id: " + str(rev))
                return None
            return repo

        # ------------------------------------------------------------ routes
        def do_HEAD(self) -> None:
            self._route()

        def do_GET(self) -> None:
            self._route()

        def _route(self) -> None:
            url = urlsplit(self.path)
            path = unquote(url.path)
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            with server._lock:
                server.requests.append((self.command, self.path, dict(self.headers.items())))
            parts = [p for p in path.split("/") if p]
            if parts[:2] == ["api", "models"]:
                return self._api(parts[2:], query)
            if len(parts) >= 5 and parts[2] == "resolve":
                return self._resolve(f"{parts[0]}/{parts[1]}", parts[3], "/".join(parts[4:]))
            return self._error(404, "NotFound", "Not found")

        def _api(self, rest: list[str], query: dict[str, str]) -> None:
            if not rest:
                return self._search(query)
            if len(rest) < 2:
                return self._error(404, "RepoNotFound", "Repository not found")
            repo_id, tail = f"{rest[0]}/{rest[1]}", rest[2:]
            blobs = query.get("blobs", "").lower() == "true"
            if not tail:
                repo = self._repo(repo_id, None)
                return self._json(200, model_json(repo, blobs)) if repo else None
            if tail[0] == "revision" and len(tail) == 2:
                repo = self._repo(repo_id, tail[1])
                return self._json(200, model_json(repo, blobs)) if repo else None
            if tail[0] == "tree" and len(tail) >= 2:
                repo = self._repo(repo_id, tail[1])
                if repo is None:
                    return None
                recursive = query.get("recursive", "").lower() == "true"
                return self._json(200, tree_json(repo, "/".join(tail[2:]), recursive))
            return self._error(404, "NotFound", "Not found")

        def _search(self, query: dict[str, str]) -> None:
            text = query.get("search", "").lower()
            wanted = query.get("filter")
            hits = [
                r for r in server.repos.values()
                if text in r.repo_id.lower() and (wanted is None or wanted in r.tags)
            ]  # fmt: skip
            hits.sort(key=lambda r: -r.downloads)
            limit = int(query.get("limit", len(hits) or 1))
            out = []
            for r in hits[:limit]:
                data = model_json(r, False)
                del data["siblings"]
                out.append(data)
            self._json(200, out)

        def _resolve(self, repo_id: str, rev: str, name: str) -> None:
            repo = self._repo(repo_id, rev)
            if repo is None:
                return
            if repo.gated and self.headers.get("authorization") != f"Bearer {server.token}":
                return self._error(
                    401,
                    "GatedRepo",
                    "Access to model is restricted",
                    **{"X-Repo-Commit": repo.commit},
                )
            f = repo.files.get(name)
            if f is None:
                return self._error(
                    404, "EntryNotFound", "Entry not found", **{"X-Repo-Commit": repo.commit}
                )
            name = Path(f.path).name
            if self.command == "GET" and server.fail_next.get(name, 0) > 0:
                server.fail_next[name] -= 1
                return self._error(503, "ServiceUnavailable", "Try again later")
            start, end = 0, f.size - 1
            status = 200
            wanted = self.headers.get("Range")
            if wanted and wanted.startswith("bytes="):
                first, _, last = wanted[6:].partition("-")
                start = int(first or 0)
                end = min(int(last), f.size - 1) if last else f.size - 1
                if start >= f.size:
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{f.size}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return None
                status = 206
            length = end - start + 1
            self.send_response(status)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(length))
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("ETag", f'"{f.etag}"')
            self.send_header("X-Repo-Commit", repo.commit)
            if f.lfs:
                self.send_header("X-Linked-Etag", f'"{f.sha256}"')
                self.send_header("X-Linked-Size", str(f.size))
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{end}/{f.size}")
            self.end_headers()
            if self.command == "HEAD":
                return None
            self._send_body(f, start, end + 1)
            return None

        def _send_body(self, f: ServedFile, start: int, stop: int) -> None:
            cut = server.cut_after.pop(Path(f.path).name, None)
            rec = Sent("GET", f.path, start, 0)
            server._record(rec)
            began = time.monotonic()
            pos = start
            middle = f.size // 2
            try:
                while pos < stop:
                    n = min(BODY_CHUNK, stop - pos)
                    if cut is not None:
                        n = min(n, start + cut - pos)
                        if n <= 0:
                            break  # drop the connection mid-body
                    chunk = bytearray(f.read(pos, pos + n))
                    if Path(f.path).name in server.corrupt:
                        for i in range(max(pos, middle), min(pos + n, middle + 64)):
                            chunk[i - pos] ^= 0xFF
                    self.wfile.write(chunk)
                    pos += n
                    with server._lock:
                        rec.bytes += n
                    if server.throttle_bps:
                        ahead = (pos - start) / server.throttle_bps - (time.monotonic() - began)
                        if ahead > 0:
                            time.sleep(ahead)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client went away (killed, cancelled)
            self.close_connection = True

    return Handler
