"""deploy/: the container recipe and the Kubernetes manifest parse, and say what llmos accepts."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import yaml
from llmos.shell.cli import build_parser

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


def _instructions(text: str) -> list[tuple[str, str]]:
    out, line = [], ""
    for raw in text.splitlines():
        if raw.strip().startswith("#") or not raw.strip():
            continue
        line += raw.rstrip("\\").strip() + " "
        if not raw.rstrip().endswith("\\"):
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
            line = ""
    return out


def test_the_container_recipe_runs_llmos_serve():
    steps = _instructions((DEPLOY / "Dockerfile").read_text())
    words = [w for w, _ in steps]
    assert words[0] == "FROM" and set(words) <= {"FROM", "RUN", "WORKDIR", "COPY", "ENV", "VOLUME", "EXPOSE",
                                                "ENTRYPOINT", "CMD"}
    entry = json.loads(dict(steps)["ENTRYPOINT"])
    assert entry[0] == "llmos"
    ns = build_parser().parse_args(entry[1:] + ["--api-key", "k=agent"])  # what `docker run ... ARGS` adds
    assert ns.command == "serve" and ns.host == "0.0.0.0" and ns.serve_keys == ["k=agent"]
    assert dict(steps)["EXPOSE"] == str(ns.port)
    assert "LLMOS_HOME=/data" in dict(steps)["ENV"]


def test_the_manifest_puts_llmos_serve_next_to_a_llama_cpp_server():
    docs = [d for d in yaml.safe_load_all((DEPLOY / "kubernetes.yaml").read_text()) if d]
    by = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    assert set(by) == {("Deployment", "llama-server"), ("Service", "llama-server"), ("StatefulSet", "llmos"),
                       ("Service", "llmos")}
    for (kind, name), d in by.items():
        assert d["apiVersion"] in ("v1", "apps/v1")
        if kind == "Service":
            pods = by.get(("Deployment", name)) or by[("StatefulSet", name)]
            assert d["spec"]["selector"] == pods["spec"]["template"]["metadata"]["labels"]
    engine = by[("Deployment", "llama-server")]["spec"]["template"]["spec"]["containers"][0]
    engine_port = engine["ports"][0]["containerPort"]
    assert str(engine_port) in engine["args"]
    llmos = by[("StatefulSet", "llmos")]["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in llmos["env"]}
    assert env["LLMOS_MODEL"]["value"] == f"openai:http://llama-server:{by[('Service', 'llama-server')]['spec']['ports'][0]['port']}/v1"
    assert env["LLMOS_KEY"]["valueFrom"]["secretKeyRef"]["name"]
    ns = build_parser().parse_args(["serve", "--host", "0.0.0.0", "--port", "8000",
                                    *[a.replace("$(LLMOS_KEY)", "k") for a in llmos["args"]]])
    assert ns.serve_keys == ["k=agent"]  # a key: the pod listens beyond loopback
    assert llmos["ports"][0]["containerPort"] == ns.port == by[("Service", "llmos")]["spec"]["ports"][0]["targetPort"]
    assert llmos["volumeMounts"][0]["mountPath"] == "/data"
    assert shlex.split(" ".join(engine["args"]))[0] == "--model"
