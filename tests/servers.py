"""Starting real servers for the bridge tests: on 127.0.0.1, a free port, bounded waits, always stopped."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(url: str, proc: subprocess.Popen, log: Path, seconds: float = 120.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except urllib.error.HTTPError:  # it answered
            return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"server did not answer {url} in {seconds:.0f}s:\n{log.read_text()[-3000:]}")


@contextlib.contextmanager
def running(args: list[str], url: str, log: Path, env: dict | None = None):
    """Run `args` (a server) until the block ends; yield once `url` answers."""
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
        try:
            wait_up(url, proc, log)
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextlib.contextmanager
def llama_server(gguf: Path, log: Path, n_ctx: int = 4096):
    """llama-cpp-python's OpenAI-compatible server on the default GGUF (through the launcher that
    keeps llama.cpp's weight buffers as the in-process driver does); yields its /v1 URL."""
    port = free_port()
    args = [sys.executable, "-m", "llmos.drivers.llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1",
            "--port", str(port), "--n_ctx", str(n_ctx)]
    with running(args, f"http://127.0.0.1:{port}/v1/models", log):
        yield f"http://127.0.0.1:{port}/v1"
