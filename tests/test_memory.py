"""The memory manager on the scripted driver: window composition, paging, summaries, search, mem.*."""

from __future__ import annotations

import hashlib
import json
import random
import re
import sqlite3

import numpy as np
import pytest
from llmos.kernel.memory import Memory
from llmos.kernel.memory.search import VectorIndex, fts_query, rrf
from llmos.kernel.memory.summary import degenerate, extractive
from llmos.kernel.store import Store
from llmos.shell.cli import main
from llmos.syscalls.errno import SyscallError


class HashEmbedder:
    """Deterministic stand-in for MiniLM: hashed bag of words, unit length (unit tests only)."""

    loaded = True
    calls = 0

    def __init__(self, *a, **kw):
        pass

    def embed(self, texts):
        HashEmbedder.calls += 1
        out = np.zeros((len(texts), 384), np.float32)
        for i, t in enumerate(texts):
            for w in re.findall(r"\w+", t.lower()):
                out[i, int(hashlib.md5(w.encode()).hexdigest(), 16) % 384] += 1.0
            out[i] /= max(np.linalg.norm(out[i]), 1e-9)
        return out


@pytest.fixture
def mem(kernel):
    kernel.memory._embedder = HashEmbedder()
    return kernel.memory


def count_bytes(text: str) -> int:  # the scripted driver's tokens are UTF-8 bytes
    return len(text.encode("utf-8"))


def window_tokens(driver, window) -> int:
    """What the model really reads: the whole chat template, in the driver's tokens."""
    return len(driver.tokenize(driver.format_chat(window, add_generation_prompt=False)))


# -- storage ------------------------------------------------------------------------------------


def test_migrations_apply_once(tmp_path):
    s = Store(tmp_path / "a.db")
    names = [r["name"] for r in s.db["_migrations"].rows]
    assert names.count("m100_memory_pages") == 1 and names.count("m101_memory_index") == 1
    assert {"mem_items", "mem_fts", "mem_vec", "mem_summaries", "mem_core"} <= set(s.db.table_names())
    assert s.migrate() == []
    s.close()
    s = Store(tmp_path / "a.db")  # reopening applies nothing again
    assert s.migrate() == [] and [r["name"] for r in s.db["_migrations"].rows] == names
    s.close()


def test_existing_messages_are_indexed_by_the_migration(tmp_path):
    from llmos.kernel import store as store_mod

    ours = [m for m in store_mod.MIGRATIONS if m.__name__.startswith("m10")]
    before = [m for m in store_mod.MIGRATIONS if m not in ours]
    store_mod.MIGRATIONS[:] = before
    try:
        s = Store(tmp_path / "old.db")  # a database from before the memory manager
        s.db["messages"].insert({"pid": 3, "role": "user", "kind": "task", "content": "the zebra is striped",
                                 "tokens": None, "paged_out": 0, "ts": 1.0})
        s.close()
    finally:
        store_mod.MIGRATIONS[:] = before + ours
    s = Store(tmp_path / "old.db")
    assert s.db.execute("SELECT count(*) FROM mem_fts WHERE mem_fts MATCH 'zebra'").fetchone()[0] == 1
    s.close()


def test_append_is_committed_and_indexed(mem, home):
    mid = mem.append(7, "user", "hello there, the kettle is blue")
    other = sqlite3.connect(str(home / "llmos.db"))  # another connection sees it: it is committed
    assert other.execute("SELECT content FROM messages WHERE id = ?", [mid]).fetchone()[0].startswith("hello")
    other.close()
    assert [m["id"] for m in mem.messages(7)] == [mid]
    assert mem.search(0, "kettle", mode="fts")[0]["message_id"] == mid
    assert mem.search(7, "kettle", mode="fts") == []  # resident: in process 7's window already
    mem.store.db.execute("UPDATE messages SET paged_out = 1 WHERE id = ?", [mid])
    assert mem.search(7, "kettle", mode="fts")[0]["message_id"] == mid  # paged out: recallable


# -- the window ---------------------------------------------------------------------------------


def test_window_never_exceeds_the_budget(kernel, scripted, mem):
    scripted.default = "A short summary of what was said."
    rng = random.Random(5)
    words = "alpha beta gamma delta kettle river lamp stone cloud garden".split()
    system = "You are a helpful process."
    per = mem.overhead()
    assert per == window_tokens(scripted, [{"role": "assistant", "content": ""}])
    for step in range(300):
        budget = rng.choice([400, 700, 1200, 3000])
        n = rng.choice([1, 5, 30, 120, 900])  # some messages alone are most of the window
        mem.append(1, rng.choice(["user", "assistant"]), " ".join(rng.choice(words) for _ in range(n)),
                   kind=rng.choice(["message", "observation"]))
        if step % 50 == 0:
            mem.core_set(1, "The user's name is Ada. " * rng.randint(1, 20))
        w = mem.window(1, system, budget, count_bytes)
        assert w[0]["role"] == "system" and w[0]["content"].startswith(system)
        assert {m["role"] for m in w} <= {"system", "user", "assistant"}
        assert window_tokens(scripted, w) <= budget, (step, budget)
    st = mem.stat(1)
    assert st["paged_out"] > 0 and st["pages"] > 1 and st["summaries"] > 0


def test_window_composition_order(kernel, scripted, mem):
    scripted.default = "Ada asked about kettles."
    mem.core_set(0, "System fact: the house is in Porto.")
    mem.core_set(4, "Process fact: the task is about kettles.")
    for i in range(40):
        mem.append(4, "user", f"message {i}: " + "kettle " * 20)
    w = mem.window(4, "SYSTEM PROMPT", 1500, count_bytes)
    head = w[0]["content"]
    order = [head.index(s) for s in ("SYSTEM PROMPT", "the house is in Porto", "the task is about kettles", "Ada asked about kettles")]
    assert order == sorted(order)  # system | core (pinned) | summary | recent messages
    assert w[-1]["content"].startswith("message 39")
    other = mem.window(5, "S", 1500, count_bytes)[0]["content"]  # another process: the system core only
    assert "the house is in Porto" in other and "the task is about kettles" not in other


def test_page_out_keeps_order_and_ids(kernel, scripted, mem):
    scripted.default = "Summary so far: many numbered messages."
    sent = [(mem.append(2, "user" if i % 2 else "assistant", f"message number {i} " + "x" * 60), i) for i in range(120)]
    for _ in range(3):
        w = mem.window(2, "sys", 1000, count_bytes)
    rows = mem.messages(2)
    assert [(r["id"], r["content"].split()[2]) for r in rows] == [(mid, str(i)) for mid, i in sent]  # nothing lost
    flags = [r["paged_out"] for r in rows]
    assert flags == sorted(flags, reverse=True) and 0 < sum(flags) < len(rows)  # a paged-out prefix
    pages = [r["page"] for r in rows if r["paged_out"]]
    assert pages == sorted(pages) and pages[0] == 1 and len(set(pages)) > 1  # whole pages, in order
    assert all(r["page"] is None for r in rows if not r["paged_out"])
    resident = [r["content"] for r in rows if not r["paged_out"]]
    assert [m["content"] for m in w[1:]] == resident  # the window shows exactly the resident suffix


@pytest.mark.parametrize("reply,why", [
    ("", "empty"),
    ("the the the the the the the the the the the the", "repetitive"),
    ("Ada likes tea. " * 200, "too long"),
    ("<|im_start|>assistant\nsummary<|im_end|>", "template tokens"),
])
def test_summary_falls_back_to_extractive(kernel, scripted, mem, reply, why):
    scripted.default = reply
    mem.append(3, "user", "My sister Ada lives in Lisbon. She likes tea.")
    for i in range(12):
        mem.append(3, "assistant", f"Noted item {i}. " + "filler " * 30)
    w = mem.window(3, "sys", 3000, count_bytes)
    s = mem.summary(3)
    assert s["source"].startswith("extractive") and why in s["source"]
    assert "My sister Ada lives in Lisbon." in s["content"]  # the first sentence of a paged-out message
    assert s["content"] in w[0]["content"] and window_tokens(scripted, w) <= 3000


def test_model_summary_is_used_when_sound(kernel, scripted, mem):
    scripted.default = "Ada lives in Lisbon and likes tea; twelve items were noted."
    for i in range(12):
        mem.append(6, "user", f"Item {i} noted. " + "filler " * 30)
    mem.window(6, "sys", 3000, count_bytes)
    s = mem.summary(6)
    assert s["source"] == "model" and s["content"].startswith("Ada lives in Lisbon")
    asked = [p for p in scripted.prompts if "Update the running summary" in p]
    assert asked and "Item 0 noted." in asked[0] and "(none yet)" in asked[0]


def test_summary_checks():
    assert degenerate("", count_bytes, 100) == "empty"
    assert degenerate("ok fine good", count_bytes, 100) is None
    assert degenerate("a b c " * 50, count_bytes, 1000) == "repetitive"
    assert degenerate("Line one is here.\nLine one is here.\nOther words entirely now.", count_bytes, 1000) == "repeated lines"
    msgs = [{"role": "user", "content": f"Fact {i} is true. More detail follows."} for i in range(50)]
    ex = extractive("", msgs, count_bytes, 120)
    assert count_bytes(ex) <= 120 and "Fact 49 is true." in ex and "Fact 0 is" not in ex  # newest kept


def test_system_prompt_over_budget_is_a_clear_error(mem):
    with pytest.raises(SyscallError) as e:
        mem.window(1, "x" * 500, 100, count_bytes)
    assert e.value.code == "EFBIG" and "system prompt" in e.value.message


def test_one_huge_message_is_cut_to_fit(kernel, scripted, mem):
    mid = mem.append(8, "user", "START " + "y" * 5000 + " END")
    w = mem.window(8, "sys", 600, count_bytes)
    assert window_tokens(scripted, w) <= 600
    assert f"message {mid}" in w[-1]["content"] and mem.messages(8)[0]["content"].endswith(" END")


# -- search and forget ------------------------------------------------------------------------


def test_fts_query_and_rrf():
    assert fts_query("What is the name of Ada's cat?") == '"name" OR "ada" OR "cat"'
    assert fts_query("the of and") is None
    assert [i for i, _ in rrf([1, 2, 3], [3, 4])] == [3, 1, 2, 4]
    assert [i for i, _ in rrf([1, 2], [2, 1], weights=(0.5, 1.0))] == [2, 1]


def test_vector_paths_agree(tmp_path):
    s = Store(tmp_path / "v.db")
    m = Memory(s, embedder=HashEmbedder())
    texts = [f"fact {i} about {'kettles' if i % 3 else 'rivers'} and item{i} w{i % 7} v{i % 11}" for i in range(300)]
    ids = [m.remember(0, t) for t in texts]
    m.index_pending()
    q = HashEmbedder().embed(["kettles item42 w3 v5"])[0]
    sims = dict(zip(ids, HashEmbedder().embed(texts) @ q, strict=True))
    conn = s.db.conn
    small, mirrored = VectorIndex(mirror_at=10**9), VectorIndex(mirror_at=0)

    def is_top(found, k, among):  # a valid top k (ties may break either way)
        kth = sorted((sims[i] for i in among), reverse=True)[k - 1]
        return len(found) == k and all(sims[i] >= kth - 1e-5 for i in found) and set(found) <= set(among)

    a, b = small.search(conn, q, 10), mirrored.search(conn, q, 10)
    assert is_top(a, 10, ids) and is_top(b, 10, ids) and mirrored._n == 300
    allowed = ids[100:140]
    assert is_top(small.search(conn, q, 3, allowed), 3, allowed) and is_top(mirrored.search(conn, q, 3, allowed), 3, allowed)
    new = m.remember(0, "brand new kettles item42 kettles")
    m.index_pending()
    assert mirrored.search(conn, q, 1) == [new]  # topped up with the new batch
    mirrored.remove(conn, new)
    assert new not in mirrored.search(conn, q, 300)
    s.close()


def test_forget_removes_from_every_index(mem):
    keep = mem.remember(0, "The spare key is under the blue flowerpot.", ["house"])
    gone = mem.remember(0, "The safe combination is zanzibar-7741.", ["secret"])
    mem.index_pending()
    vec = bytes(mem.embedder.embed(["The safe combination is zanzibar-7741. secret"])[0].tobytes())
    conn = mem.store.db.conn

    def traces():
        return {
            "fts": conn.execute("SELECT count(*) FROM mem_fts WHERE mem_fts MATCH 'zanzibar'").fetchone()[0],
            "fts_content": conn.execute("SELECT count(*) FROM mem_fts_content WHERE c0 LIKE '%zanzibar%'").fetchone()[0],
            "fts_segments": sum(b"zanzibar" in bytes(r[0] or b"") for r in conn.execute("SELECT block FROM mem_fts_data")),
            "vec": conn.execute("SELECT count(*) FROM mem_vec_rowids WHERE rowid = ?", [gone]).fetchone()[0],
            "vec_chunks": sum(vec in bytes(r[0]) for r in conn.execute("SELECT vectors FROM mem_vec_vector_chunks00")),
            "items": conn.execute("SELECT count(*) FROM mem_items WHERE id = ?", [gone]).fetchone()[0],
        }

    assert all(traces().values())
    assert mem.forget(0, gone) == {"id": gone, "source": "archival"}
    assert not any(traces().values()), traces()
    assert [h["id"] for h in mem.search(0, "safe combination zanzibar")] == [keep]
    mid = mem.append(9, "user", "my password is hunter2")
    mem.store.db.execute("UPDATE messages SET paged_out = 1 WHERE id = ?", [mid])
    item = mem.search(9, "hunter2", mode="fts")[0]["id"]
    mem.forget(9, item)
    assert mem.messages(9)[0]["content"] == "[forgotten]" and mem.messages(9)[0]["id"] == mid
    assert all(h["id"] != item and "hunter2" not in h["text"] for h in mem.search(9, "hunter2"))


# -- the syscalls -------------------------------------------------------------------------------


def test_mem_syscalls(kernel, mem):
    r = kernel.call("mem.remember", {"text": "Miso is the name of the user's cat.", "tags": ["pets"]})
    kernel.call("mem.remember", {"text": "The boiler was serviced in March."})
    p5 = kernel.context(pid=5)
    garage = kernel.memory.append(5, "user", "Remember that the garage code is 4417.")
    kernel.store.db.execute("UPDATE messages SET paged_out = 1 WHERE id = ?", [garage])
    hits = kernel.call("mem.recall", {"query": "cat name", "k": 3}).hits
    assert hits[0].id == r.id and hits[0].source == "archival" and hits[0].tags == ["pets"]
    conv = kernel.call("mem.recall", {"query": "garage code", "sources": ["conversation"]}, ctx=p5).hits
    assert conv[0].source == "conversation" and conv[0].pid == 5 and "4417" in conv[0].text
    assert kernel.call("mem.recall", {"query": "garage code", "sources": ["conversation"]},
                       ctx=kernel.context(pid=6)).hits == []  # another process's conversation is private
    assert kernel.call("mem.core", {}).text == ""
    c = kernel.call("mem.core", {"text": "The user is called Ada."})
    assert c.text == "The user is called Ada." and c.pid == 0 and c.limit == 2000
    assert kernel.call("mem.recall", {"query": "who is the user", "sources": ["core"]}, ctx=p5).hits[0].source == "core"
    with pytest.raises(SyscallError) as e:
        kernel.call("mem.core", {"text": "x" * 3000})
    assert e.value.code == "EFBIG"
    with pytest.raises(SyscallError) as e:
        kernel.call("mem.forget", {"id": r.id}, ctx=p5)  # root's fact: not this process's to forget
    assert e.value.code == "EACCES"
    assert kernel.call("mem.forget", {"id": r.id}).forgotten
    with pytest.raises(SyscallError) as e:
        kernel.call("mem.forget", {"id": r.id})
    assert e.value.code == "ENOENT"
    st = kernel.call("mem.stat", {})
    assert st.pid is None and st.archival == 1 and st.messages == 1 and st.core_blocks == 1
    assert st.fts_rows == st.vector_rows + st.pending_embeddings == 3
    assert kernel.call("mem.stat", {}, ctx=p5).pid == 5
    with pytest.raises(SyscallError) as e:
        kernel.call("mem.stat", {"pid": 6}, ctx=p5)
    assert e.value.code == "EACCES"


def test_a_process_keeps_its_own_conversation_through_mem_append_and_mem_window(kernel, scripted, mem):
    """A code app that converses keeps its conversation where the kernel loop keeps an agent's:
    committed message by message, and paged out into a summary when it outgrows the window."""
    scripted.default = "They talked about rivers."
    p7 = kernel.context(pid=7)
    with pytest.raises(SyscallError) as e:
        kernel.call("mem.append", {"role": "user", "content": "hi"})  # root (the shell)
    assert e.value.code == "EINVAL" and "run an app as a process" in e.value.message
    with pytest.raises(SyscallError) as e:
        kernel.call("mem.append", {"role": "system", "content": "x"}, ctx=p7)
    assert e.value.code == "EINVAL"
    for i in range(40):
        r = kernel.call("mem.append", {"role": "user" if i % 2 == 0 else "assistant",
                                       "content": f"turn {i} about the river " + "water " * 30}, ctx=p7)
    assert r.messages == 40 and [m["id"] for m in mem.messages(7)][-1] == r.id  # committed
    scripted.info.n_ctx = 2300
    w = kernel.call("mem.window", {"system": "Be brief.", "answer_tokens": 300}, ctx=p7)
    assert w.messages[0].role == "system" and w.messages[0].content.startswith("Be brief.")
    assert "Summary of earlier conversation" in w.messages[0].content and w.paged_out > 0
    assert w.resident == len(w.messages) - 1 and w.messages[-1].content.startswith("turn 39")
    assert window_tokens(scripted, [m.model_dump() for m in w.messages]) <= 2300 - 300
    with pytest.raises(SyscallError) as e:
        kernel.call("mem.window", {"answer_tokens": 2290}, ctx=p7)
    assert e.value.code == "EINVAL" and "leaves no room" in e.value.message
    bare = kernel.call("mem.window", {}, ctx=kernel.context(pid=8))
    assert bare.messages == [] and bare.resident == 0  # nothing said, no system prompt: nothing
    assert kernel.call("mem.window", {}, ctx=p7).messages[0].role == "system"  # the summary heads it


# -- the command line ---------------------------------------------------------------------------


def test_mem_commands(capsys, monkeypatch):
    monkeypatch.setattr("llmos.kernel.memory.embed.MiniLM", HashEmbedder)

    def run(*argv):
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    code, out, _ = run("mem", "stat")
    assert code == 0 and "memory of all processes" in out and "vector index 0" in out
    assert run("mem", "core")[1].startswith("(core memory is empty")
    assert run("mem", "core", "--set", "Ada likes tea.")[1].startswith("core memory set (14/2000")
    assert run("mem", "core")[1].strip() == "Ada likes tea."
    run("call", "mem.remember", "text=The cabin wifi password is bluefalcon42")
    code, out, _ = run("mem", "search", "cabin wifi password", "--k", "2", "--json")
    hits = json.loads(out)["hits"]
    assert code == 0 and hits[0]["text"].startswith("The cabin wifi") and len(hits) == 2
    code, out, _ = run("mem", "search", "wifi")
    assert "archival" in out and "bluefalcon42" in out
    code, out, _ = run("mem", "forget", str(hits[0]["id"]))
    assert code == 0 and out.strip() == f"forgot archival item {hits[0]['id']}"
    code, out, err = run("mem", "forget", str(hits[0]["id"]))
    assert code != 0 and err.startswith("llmos: ENOENT: ") and out == ""
    code, out, _ = run("mem", "stat", "--pid", "0", "--json")
    assert json.loads(out)["archival"] == 0 and json.loads(out)["core_blocks"] == 1
