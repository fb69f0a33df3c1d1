"""A fake upstream simple index for the mirror end-to-end tests: PEP 691
JSON and PEP 503 HTML project pages plus files (and PEP 658 metadata) on
127.0.0.1, from the standard library only. Counts requests per path.
"""

from __future__ import annotations

import collections
import hashlib
import html
import json
import ssl
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass(frozen=True)
class Served:
    filename: str
    data: bytes
    metadata: bytes | None


class FakeUpstream:
    def __init__(self) -> None:
        self.projects: dict[str, list[Served]] = collections.defaultdict(list)
        self.hits: collections.Counter[str] = collections.Counter()
        # PyPI JSON API documents (`/pypi/<name>/json`), set with `facts()`.
        self.json_api: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.tls = False

    def add(self, project: str, path: Path, metadata: bytes | None = None) -> None:
        self.projects[project].append(Served(path.name, path.read_bytes(), metadata))

    def facts(self, project: str, first_upload: str, releases: int, repository: str | None = None) -> None:
        """Serve a PyPI JSON API document for `project`: `releases` releases of
        one file each, the first uploaded at `first_upload` (ISO 8601)."""
        rels = {f"{i}.0": [{"upload_time_iso_8601": first_upload if i == 0 else "2026-11-30T00:00:00Z"}]
                for i in range(releases)}
        info = {"name": project, "home_page": None,
                "project_urls": {"Source": repository} if repository else None}
        self.json_api[project] = json.dumps({"info": info, "releases": rels}).encode()

    @property
    def simple_url(self) -> str:
        assert self._server is not None, "not started"
        host, port = self._server.server_address[:2]
        return f"{'https' if self.tls else 'http'}://{host}:{port}/simple/"

    def start(self, tls: tuple[Path, Path] | None = None) -> "FakeUpstream":
        """Serve plain HTTP, or HTTPS with ``tls=(certificate PEM, key PEM)``."""
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                with upstream._lock:
                    upstream.hits[self.path] += 1
                upstream._answer(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        if tls is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(str(tls[0]), str(tls[1]))
            self._server.socket = ctx.wrap_socket(self._server.socket, server_side=True)
            self.tls = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # -- answers -------------------------------------------------------------

    def _answer(self, h: BaseHTTPRequestHandler) -> None:
        path = h.path.split("?", 1)[0]
        if path.startswith("/simple/") and path.endswith("/"):
            project = path[len("/simple/"):-1]
            files = self.projects.get(project)
            if files is None:
                return self._send(h, 404, "text/plain", b"no such project")
            if "application/vnd.pypi.simple.v1+json" in h.headers.get("Accept", ""):
                return self._send(h, 200, "application/vnd.pypi.simple.v1+json", self._json(project, files))
            return self._send(h, 200, "text/html; charset=utf-8", self._html(project, files))
        if path.startswith("/pypi/") and path.endswith("/json"):
            doc = self.json_api.get(path[len("/pypi/"):-len("/json")])
            if doc is None:
                return self._send(h, 404, "application/json", b'{"message": "Not Found"}')
            return self._send(h, 200, "application/json", doc)
        if path.startswith("/files/"):
            name = path[len("/files/"):]
            want_meta = name.endswith(".metadata")
            base = name[: -len(".metadata")] if want_meta else name
            for served in (s for files in self.projects.values() for s in files):
                if served.filename == base:
                    body = served.metadata if want_meta else served.data
                    if body is None:
                        break
                    return self._send(h, 200, "application/octet-stream", body)
        self._send(h, 404, "text/plain", b"not found")

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, ctype: str, body: bytes) -> None:
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    @staticmethod
    def _json(project: str, files: list[Served]) -> bytes:
        entries = []
        for s in files:
            meta = {"sha256": hashlib.sha256(s.metadata).hexdigest()} if s.metadata is not None else False
            entries.append({
                "filename": s.filename,
                "url": f"../../files/{s.filename}",
                "hashes": {"sha256": hashlib.sha256(s.data).hexdigest()},
                "requires-python": ">=3.8",
                "size": len(s.data),
                "yanked": False,
                "core-metadata": meta,
            })
        return json.dumps({"meta": {"api-version": "1.1"}, "name": project, "files": entries, "versions": []}).encode()

    @staticmethod
    def _html(project: str, files: list[Served]) -> bytes:
        lines = [f"<!DOCTYPE html><html><body><h1>Links for {html.escape(project)}</h1>"]
        for s in files:
            meta = ""
            if s.metadata is not None:
                meta = f' data-core-metadata="sha256={hashlib.sha256(s.metadata).hexdigest()}"'
            lines.append(
                f'<a href="/files/{html.escape(s.filename)}#sha256={hashlib.sha256(s.data).hexdigest()}"'
                f' data-requires-python="&gt;=3.8"{meta}>{html.escape(s.filename)}</a><br/>'
            )
        lines.append("</body></html>")
        return "\n".join(lines).encode()
