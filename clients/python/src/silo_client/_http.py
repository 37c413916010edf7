"""The blocking HTTP layer: one connection per call (http.client), bearer
token, JSON, error answers turned into exceptions, jobs awaited."""

from __future__ import annotations

import http.client
import json
import os
import time
import urllib.parse
from typing import Any, Callable, Dict, Iterable, Optional, Tuple

from .errors import SiloError, error_for

DEFAULT_URL = "http://127.0.0.1:8080"
API = "/api/storage"
# job states that are final
_DONE = ("succeeded", "failed", "canceled")


class Transport:
    """Talks to one silo server. Safe to use from several threads: every
    call opens its own connection."""

    def __init__(self, url: Optional[str] = None, token: Optional[str] = None, timeout: float = 600.0) -> None:
        self.url = (url or os.environ.get("SILO_URL") or DEFAULT_URL).rstrip("/")
        self.token = token if token is not None else os.environ.get("STORAGE_API_TOKEN", "")
        self.timeout = timeout
        parts = urllib.parse.urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"SILO_URL {self.url!r}: want http://host:port or https://host:port")
        self._scheme = parts.scheme
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")

    # -- connections --

    def _connect(self) -> http.client.HTTPConnection:
        cls = http.client.HTTPSConnection if self._scheme == "https" else http.client.HTTPConnection
        return cls(self._host, self._port, timeout=self.timeout)

    def _headers(self, extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
        h = {"Accept": "application/json", "User-Agent": "silo-client-python/0.1"}
        if self.token:
            h["Authorization"] = "Bearer " + self.token
        if extra:
            h.update(extra)
        return h

    def path(self, route: str, query: Optional[Dict[str, Any]] = None) -> str:
        p = self._prefix + API + route
        if query:
            q = {k: _qv(v) for k, v in query.items() if v is not None}
            if q:
                p += "?" + urllib.parse.urlencode(q)
        return p

    def open(self, method: str, route: str, query: Optional[Dict[str, Any]] = None, body: Any = None,
             headers: Optional[Dict[str, str]] = None) -> Tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        """Sends a request and returns the connection and the response, whose
        body the caller reads (and closes with the connection). An error
        answer is raised."""
        conn = self._connect()
        hdrs = self._headers(headers)
        chunked = body is not None and not isinstance(body, (bytes, bytearray, str)) and "Content-Length" not in hdrs
        try:
            conn.request(method, self.path(route, query), body=body, headers=hdrs, encode_chunked=chunked)
            resp = conn.getresponse()
        except (OSError, http.client.HTTPException) as e:
            conn.close()
            raise SiloError(f"{method} {self.url}{API}{route}: {e}", code="unavailable") from e
        if resp.status >= 400:
            try:
                raise _error_of(resp)
            finally:
                conn.close()
        return conn, resp

    def call(self, method: str, route: str, query: Optional[Dict[str, Any]] = None, json_body: Any = None,
             body: Any = None, headers: Optional[Dict[str, str]] = None) -> Tuple[int, Any]:
        """A request whose answer is JSON: returns (status, decoded body)."""
        hdrs = dict(headers or {})
        if json_body is not None:
            body = json.dumps(json_body).encode()
            hdrs["Content-Type"] = "application/json"
        conn, resp = self.open(method, route, query, body, hdrs)
        try:
            data = resp.read()
        finally:
            conn.close()
        if not data:
            return resp.status, None
        return resp.status, json.loads(data)

    # -- jobs --

    def job(self, answer: Any, wait: bool = True, on_progress: Optional[Callable[[float], None]] = None,
            poll: float = 0.2) -> Any:
        """Waits for the job a 202 answer started and returns its result (a
        failed job raises its error); without wait, returns the answer."""
        if not wait or not isinstance(answer, dict) or "job_id" not in answer:
            return answer
        job_id = answer["job_id"]
        delay = poll
        while True:
            _, st = self.call("GET", "/jobs/" + job_id)
            if on_progress is not None and st.get("percent") is not None:
                on_progress(float(st["percent"]))
            state = st.get("state")
            if state in _DONE:
                if state == "succeeded":
                    return st.get("result")
                err = st.get("error") or {}
                raise error_for(0, err.get("code") or state, err.get("message") or f"job {job_id} {state}",
                                err.get("details"))
            time.sleep(delay)
            delay = min(delay * 1.5, 2.0)


def _qv(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return ",".join(str(x) for x in v)
    return str(v)


def _error_of(resp: http.client.HTTPResponse) -> SiloError:
    raw = resp.read()
    try:
        err = json.loads(raw).get("error") or {}
        return error_for(resp.status, err.get("code"), err.get("message") or resp.reason, err.get("details"))
    except (ValueError, AttributeError):
        return error_for(resp.status, None, f"HTTP {resp.status} {resp.reason}: {raw[:200]!r}")


def iter_file(path: str, block: int = 1 << 20) -> Iterable[bytes]:
    """A file's bytes in blocks (an upload body)."""
    with open(path, "rb") as f:
        while True:
            b = f.read(block)
            if not b:
                return
            yield b


__all__ = ["Transport", "iter_file", "DEFAULT_URL"]
