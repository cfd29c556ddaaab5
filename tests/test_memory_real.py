"""The memory manager with the real MiniLM embedder and the real default model (SmolLM2)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.real

FILLER = [
    "The boiler was serviced in March by a technician from the city.",
    "Ada prefers green tea in the afternoon.",
    "The printer on the second floor is out of toner again.",
    "We agreed to paint the fence before the summer holidays.",
    "The quarterly budget review moved to Thursday morning.",
    "My bicycle needs a new chain and a front light.",
    "The garden hose is stored in the shed behind the garage.",
    "Marco's flight to Oslo lands at nine in the evening.",
]


def test_real_embedder_recalls_a_paraphrase(real_kernel):
    k = real_kernel
    for text in FILLER:
        k.call("mem.remember", {"text": text})
    fact = k.call("mem.remember", {"text": "The wifi password at the cabin is bluefalcon42.", "tags": ["house"]}).id
    query = "How do I get online at the lodge? What's the network key?"  # not one word in common
    assert k.memory.search(0, query, 5, mode="fts") == []  # exact words alone cannot find it
    hits = k.call("mem.recall", {"query": query, "k": 3}).hits
    assert hits[0].id == fact and "bluefalcon42" in hits[0].text
    assert k.call("mem.stat", {}).vector_rows == len(FILLER) + 1  # embedded in a batch by the recall


def test_real_model_summarizes_paged_out_pages(real_kernel, smollm):
    k = real_kernel
    d = smollm

    def count(text: str) -> int:
        return len(d.tokenize(text))

    lines = ["My sister Ada lives in Lisbon and works as a nurse."] + [
        f"Note {i}: {FILLER[i % len(FILLER)]}" for i in range(30)]
    budget = 600
    for i, text in enumerate(lines):
        k.memory.append(11, "user" if i % 2 == 0 else "assistant", text)
        w = k.memory.window(11, "You are a helpful assistant.", budget, count)
        assert len(d.tokenize(d.format_chat(w, add_generation_prompt=False), parse_special=True)) <= budget
    s = k.memory.summary(11)
    st = k.call("mem.stat", {"pid": 11})
    assert st.paged_out > 15 and st.pages >= 2 and s is not None
    # the model was asked (a real summary or, if it rambled, the extractive fallback), and the
    # summary in the window fits its share of the budget
    assert s["source"] == "model" or s["source"].startswith("extractive: model summary")
    assert 0 < s["tokens"] <= int(budget * k.memory.summary_fraction) and s["content"] in w[0]["content"]
    hits = k.call("mem.recall", {"query": "Where does my sister live?", "k": 3},
                  ctx=k.context(pid=11)).hits
    assert any("Lisbon" in h.text for h in hits)
