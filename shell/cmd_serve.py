"""`llmos serve`: the OpenAI-compatible API over HTTP (FastAPI on uvicorn).

/v1/models, /v1/chat/completions and /v1/completions, streamed (server-sent events) or not.
Each request runs as a process (apps/api.py) on a worker thread; the threads share the
kernel the way `run_many`'s do (its big lock, let go while the scheduler decodes), so
concurrent requests are decoded together in the scheduler's batches.
"""

# No `from __future__ import annotations`: FastAPI reads the handlers' annotations (Request),
# imported inside build_app so the CLI does not import FastAPI to build its parser.
import ipaddress
import json
import queue
import sys
import threading
import time

from ..syscalls.errno import Errno, SyscallError
from .registry import command

STATUS = {Errno.EINVAL: 400, Errno.EFBIG: 400, Errno.EACCES: 403, Errno.ENOENT: 404, Errno.ENOSYS: 404,
          Errno.EDQUOT: 429, Errno.EAGAIN: 429, Errno.ETIMEDOUT: 504, Errno.EINTR: 503, Errno.EIO: 502}


def _args(p) -> None:
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--api-key", dest="serve_keys", action="append", metavar="KEY=APP", default=[],
                   help="accept this key, running its requests as app APP with its grants (repeatable); "
                        "with none, only loopback clients are answered, as the app `api`")


def parse_keys(pairs: list[str]) -> dict[str, str]:
    keys = {}
    for pair in pairs:
        key, sep, app = pair.partition("=")
        if not sep or not key or not app:
            raise SyscallError(Errno.EINVAL, f"--api-key {pair!r} is not KEY=APP, e.g. --api-key s3cret=agent")
        keys[key] = app
    return keys


def _loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_app(k, keys: dict[str, str]):
    """The FastAPI app over kernel `k` (tests drive it in process, `serve` runs it on uvicorn)."""
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse, StreamingResponse

    from ..apps.api import API

    api = API(k, keys)
    web = FastAPI(title="llmos", version="1")

    def locked(fn, *args):
        k.router.tls.bkl = True  # the scheduler lets go of the lock while it decodes for us
        with k.router.bkl:
            return fn(*args)

    def error(err: SyscallError, status: int | None = None):
        return JSONResponse({"error": {"message": f"{err.code}: {err.message}", "type": str(err.code),
                                       "code": str(err.code)}}, status_code=status or STATUS.get(err.code, 500))

    async def admit(request: Request) -> tuple[str, dict]:
        auth = request.headers.get("authorization", "")
        key = auth[7:].strip() if auth.lower().startswith("bearer ") else None
        app = api.app_for(key, _loopback(request.client.host if request.client else None))
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            raise SyscallError(Errno.EINVAL, "the request body is not JSON") from None
        if not isinstance(body, dict):
            raise SyscallError(Errno.EINVAL, "the request body must be a JSON object")
        return app, body

    def streamed(kind: str, run, app: str, body: dict):
        """Run the request on a thread and send its text as server-sent events as it comes."""
        q: queue.SimpleQueue = queue.SimpleQueue()

        def work():
            try:
                q.put(("done", locked(run, app, body, lambda text: q.put(("text", text)))))
            except SyscallError as err:
                q.put(("error", err))
            except Exception as exc:  # a bug must end the stream, not hang it
                q.put(("error", SyscallError(Errno.EIO, f"{type(exc).__name__}: {exc}")))

        threading.Thread(target=work, name="llmos-serve", daemon=True).start()
        head = {"id": "llmos", "object": kind, "created": int(time.time()), "model": k.model_spec}

        def chunk(choice: dict) -> str:
            return f"data: {json.dumps({**head, 'choices': [{'index': 0, **choice}]}, ensure_ascii=False)}\n\n"

        def piece(text: str | None = None, finish: str | None = None, extra: dict | None = None) -> str:
            if kind == "text_completion":
                return chunk({"text": text or "", "finish_reason": finish, "logprobs": None})
            return chunk({"delta": {**({"content": text} if text is not None else {}), **(extra or {})},
                          "finish_reason": finish})

        def events():
            if kind != "text_completion":
                yield piece("", extra={"role": "assistant"})
            while True:
                what, value = q.get()
                if what == "text":
                    yield piece(value)
                elif what == "error":
                    yield f"data: {json.dumps({'error': {'message': f'{value.code}: {value.message}', 'code': str(value.code)}})}\n\n"
                    break
                else:
                    head["id"] = value["id"]
                    c = value["choices"][0]
                    calls = (c.get("message") or {}).get("tool_calls")
                    extra = {"tool_calls": [{"index": i, **t} for i, t in enumerate(calls)]} if calls else None
                    yield piece(None, c["finish_reason"], extra)
                    break
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    async def handle(request: Request, kind: str, run):
        try:
            app, body = await admit(request)
        except SyscallError as err:  # no or a wrong key: 401 (a call not granted is 403)
            return error(err, 401 if err.code == Errno.EACCES else None)
        if body.get("stream"):
            return streamed(kind, run, app, body)
        from starlette.concurrency import run_in_threadpool

        try:
            return JSONResponse(await run_in_threadpool(locked, run, app, body, None))
        except SyscallError as err:
            return error(err)

    @web.get("/v1/models")
    async def models():
        return api.models()

    @web.post("/v1/chat/completions")
    async def chat(request: Request):
        return await handle(request, "chat.completion.chunk", api.chat)

    @web.post("/v1/completions")
    async def completions(request: Request):
        return await handle(request, "text_completion", api.complete)

    return web


@command("serve", "serve an OpenAI-compatible API (/v1/chat/completions ...)", args=_args, where=("cli",))
def serve(env, ns) -> int:
    import socket

    import uvicorn

    k = env.k
    keys = parse_keys(ns.serve_keys)
    try:  # uvicorn reports a taken port by exiting; say it in one line instead
        with socket.create_server((ns.host, ns.port)):
            pass
    except OSError as exc:
        raise SyscallError(Errno.EIO, f"cannot listen on {ns.host}:{ns.port}: {exc.strerror}; choose another --port") from None
    k.driver()  # load the model now: a bad --model is one line here, not at the first request
    k.driver(agent=True)  # and what requests with tools decode with (on `default`, llmos's adapter)
    web = build_app(k, keys)
    who = f"keys for {', '.join(sorted(set(keys.values())))}" if keys else "loopback clients, no key"
    print(f"llmos: serving the OpenAI API at http://{ns.host}:{ns.port}/v1 (model {k.model_spec}; {who})",
          file=sys.stderr, flush=True)
    uvicorn.run(web, host=ns.host, port=ns.port, log_level="warning")
    return 0

