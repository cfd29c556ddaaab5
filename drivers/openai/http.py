"""HTTP to an OpenAI-compatible engine: one client, retries with backoff, failures as errno.

Connection errors and 5xx answers are retried (RETRIES times, backoff doubling from BACKOFF_S)
before anything was received; a timeout is ETIMEDOUT, a refused key EACCES, a request the
engine rejects (a prompt over its context, a grammar it cannot parse) EINVAL, and an engine
that stays down EIO, each in one line that says what to do.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator

from ..base import DriverError
from ..errno import Errno

RETRIES = 3
BACKOFF_S = 0.25
CONNECT_S = 5.0
READ_S = 120.0  # between two pieces of a streamed answer (env LLMOS_ENGINE_TIMEOUT)


class NotOffered(Exception):
    """The engine does not offer this endpoint (404, 405, 501): the caller falls back."""


class Endpoint:
    """The engine at `base` (`http://host:port/v1`); `root` is the server without `/v1`."""

    def __init__(self, base: str, *, api_key: str | None = None, connections: int = 16,
                 read_s: float | None = None, retries: int = RETRIES):
        import httpx

        if read_s is None:
            try:
                read_s = float(os.environ.get("LLMOS_ENGINE_TIMEOUT") or READ_S)
            except ValueError:
                raise DriverError(Errno.EINVAL, "LLMOS_ENGINE_TIMEOUT is not a number of seconds") from None
        self.base = base.rstrip("/")
        self.root = self.base[: -len("/v1")] if self.base.endswith("/v1") else self.base
        self.retries = retries
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.http = httpx.Client(headers=headers, timeout=httpx.Timeout(read_s, connect=CONNECT_S),
                                 limits=httpx.Limits(max_connections=connections + 4))

    def url(self, path: str) -> str:
        return (self.root + path[len("^"):]) if path.startswith("^") else self.base + path

    # -- failures as errno -------------------------------------------------------------------

    def _failure(self, exc: Exception, path: str) -> DriverError:
        import httpx

        where = self.url(path)
        if isinstance(exc, httpx.TimeoutException):
            return DriverError(Errno.ETIMEDOUT, f"the engine at {self.base} did not answer {where} in time; "
                                                "it may be overloaded: try again or give it fewer processes")
        return DriverError(Errno.EIO, f"cannot reach the engine at {self.base} ({type(exc).__name__}: {exc}); "
                                      "start it, or fix the URL in --model openai:URL")

    def _status(self, status: int, body: str, path: str) -> DriverError:
        detail = body.strip().replace("\n", " ")[:300]
        if status in (401, 403):
            return DriverError(Errno.EACCES, f"the engine at {self.base} refused the API key ({status}); "
                                             "set OPENAI_API_KEY or --api-key")
        if status >= 500:
            return DriverError(Errno.EIO, f"the engine at {self.base} failed ({status} on {path}): {detail}")
        return DriverError(Errno.EINVAL, f"the engine at {self.base} rejected the request ({status} on {path}): {detail}")

    def _retrying(self, path: str, send):
        """send() -> response, retried on connection errors and 5xx; NotOffered on 404/405/501."""
        import httpx

        delay = BACKOFF_S
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                r = send()
            except httpx.TimeoutException as exc:
                raise self._failure(exc, path) from None
            except httpx.TransportError as exc:
                if last:
                    raise self._failure(exc, path) from None
                time.sleep(delay)
                delay *= 2
                continue
            if r.status_code in (404, 405, 501):
                r.close()
                raise NotOffered(path)
            if r.status_code >= 500 and not last:
                r.close()
                time.sleep(delay)
                delay *= 2
                continue
            if r.status_code >= 400:
                body = r.read().decode("utf-8", errors="replace")
                r.close()
                raise self._status(r.status_code, body, path)
            return r
        raise AssertionError("unreachable")

    # -- requests ----------------------------------------------------------------------------

    def get(self, path: str) -> dict:
        r = self._retrying(path, lambda: self.http.get(self.url(path)))
        return self._json(r, path)

    def post(self, path: str, body: dict) -> dict:
        r = self._retrying(path, lambda: self.http.post(self.url(path), json=body))
        return self._json(r, path)

    def _json(self, r, path: str):
        try:
            return r.json()
        except ValueError:
            raise DriverError(Errno.EIO, f"the engine at {self.base} answered {path} with something "
                                         "that is not JSON; is it an OpenAI-compatible server?") from None

    def stream(self, path: str, body: dict, stopped) -> Iterator[dict]:
        """POST with `stream: true`, yielding each server-sent event's JSON until `[DONE]`.
        `stopped()` is checked between events; the response is closed when it turns true."""
        import httpx

        r = self._retrying(path, lambda: self.http.send(self.http.build_request("POST", self.url(path), json=body),
                                                        stream=True))
        try:
            for line in r.iter_lines():
                if stopped():
                    return
                if not line.startswith("data:"):
                    continue
                data = line[len("data:"):].strip()
                if data == "[DONE]":
                    return
                try:
                    event = json.loads(data)
                except ValueError:
                    continue
                if isinstance(event, dict) and "error" in event and not event.get("choices"):
                    err = event["error"]
                    msg = err.get("message", err) if isinstance(err, dict) else err
                    raise DriverError(Errno.EIO, f"the engine at {self.base} failed mid-answer: {msg}")
                yield event
            if not stopped():  # every OpenAI-compatible engine ends a stream with [DONE]
                raise DriverError(Errno.EIO, f"the engine at {self.base} dropped the answer midway; "
                                             "check that it is still running")
        except httpx.TimeoutException as exc:
            raise self._failure(exc, path) from None
        except httpx.TransportError as exc:
            if stopped():
                return
            raise DriverError(Errno.EIO, f"the engine at {self.base} dropped the answer midway ({exc}); "
                                         "check that it is still running") from None
        finally:
            r.close()

    def close(self) -> None:
        self.http.close()
