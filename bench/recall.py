"""Recall by meaning: FTS5 alone vs sqlite-vec alone vs hybrid (RRF), and query latency, same run.

A synthetic corpus of N messages with planted facts, plus queries that paraphrase them (other
words for the same thing, so exact words alone do not find them); distractors share the names,
places and topics. recall@5 = the share of queries whose planted message is in the top 5.
Latency is one whole hybrid mem search (embedding the query, BM25, vectors, fusion), p50/p95.
The corpus is rebuilt from its seed; its embeddings are cached under bench/.cache/.

    python bench/recall.py [--n 100000] [--queries 200] [--json]
"""

from __future__ import annotations

import hashlib
import os
import random
import sys
import time

from _common import parser, report, temp_home

NAMES = """Ada Alan Alice Amara Ana Anton Aria Arjun Ben Bianca Boris Carla Carlos Chen Chloe Dara David
Diego Elena Elif Emil Emma Ezra Farah Felix Freya Gabriel Greta Hana Hugo Ines Ivan Jade Jamal Jonas
Julia Kai Karim Kenji Lara Leo Lina Luca Maya Marco Maria Mateo Mei Mila Nadia Nina Noah Olga Omar
Oscar Paula Pedro Priya Rafael Rosa Ruth Sami Sara Sven Tara Theo Tomas Uma Vera Viktor Yara Yusuf
Zoe Zara""".split()
CITIES = """Lisbon Oslo Nairobi Lima Kyoto Porto Quito Riga Seville Tunis Vienna Warsaw Zagreb Dakar Hanoi
Krakow Lyon Malmo Naples Osaka Perth Quebec Split Turin Utrecht Valencia""".split()
PLACES = ["the cabin", "the office", "the beach house", "grandma's flat", "the studio", "the lake house",
          "the garage", "the library annex", "the boat", "the farmhouse"]
ANIMALS = ["cat", "dog", "parrot", "rabbit", "hamster", "turtle", "goldfish", "ferret"]
PETNAMES = "Miso Pickles Biscuit Nacho Pepper Waffles Mochi Tofu Noodle Bean Sprout Ziggy Olive Pixel".split()
FOODS = ["peanuts", "shellfish", "gluten", "strawberries", "dairy", "sesame", "kiwi", "eggs"]
COLORS = ["red", "blue", "green", "yellow", "black", "white", "silver", "orange"]
CARS = ["Volvo", "Toyota", "Fiat", "Skoda", "Honda", "Renault", "Kia", "Mazda"]
JOBS = ["nurse", "carpenter", "pilot", "teacher", "architect", "baker", "lawyer", "plumber", "chemist"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December"]

# (fact, paraphrasing query, the slot that keys it). The query avoids the fact's own words
# except the key (a name, place or code): other words, same meaning.
TEMPLATES = [
    ("{name}'s birthday is on {month} {day}.", "When was {name} born?", "name"),
    ("{name} has a {animal} called {pet}.", "What is the name of {name}'s pet?", "name"),
    ("{name} is allergic to {food}.", "Which food makes {name} ill?", "name"),
    ("The wifi password at {place} is {code}.", "How do I get online in {place_short}, what's the network key?", "place"),
    ("{name} drives a {color} {car}.", "What vehicle does {name} own?", "name"),
    ("{name} works as a {job} in {city}.", "What is {name}'s occupation?", "name"),
    ("Support ticket {code} was resolved by {name}.", "Who fixed issue {code}?", "code"),
    ("The meeting with {name} was moved to {weekday}.", "When is the appointment with {name} rescheduled?", "name"),
    ("{name}'s flight to {city} leaves from gate {gate}.", "Where does {name} board the plane?", "name"),
    ("{name} lent me {amount} euros last week.", "How much money do I owe {name}?", "name"),
]
CHAT = [
    "I think we should {verb} the {noun} before {weekday}.",
    "Did {name} say anything about the {noun} in {city}?",
    "{name} was born in {city} and moved away as a child.",
    "The {noun} at {place} needs to be {verb}ed again.",
    "Can you remind me to {verb} the {noun} on {weekday}?",
    "{name} called about the {noun}; nothing urgent.",
    "We talked with {name} about the weather in {city} for a while.",
    "My {animal} keeps chasing the {noun} around {place}.",
    "Remember that {name} likes {food} in the morning.",
    "The {color} {noun} from {city} arrived on {weekday}.",
]
NOUNS = ["report", "garden", "budget", "invoice", "fence", "kitchen", "roof", "printer", "schedule",
         "bicycle", "laptop", "contract", "piano", "boiler", "window"]
VERBS = ["check", "paint", "clean", "review", "fix", "move", "order", "sign", "test", "book"]


def _slots(rng: random.Random) -> dict:
    place = rng.choice(PLACES)
    return {
        "name": rng.choice(NAMES), "month": rng.choice(MONTHS), "day": rng.randint(1, 28),
        "animal": rng.choice(ANIMALS), "pet": rng.choice(PETNAMES), "food": rng.choice(FOODS),
        "place": place, "place_short": place.replace("the ", ""),
        "code": f"{rng.choice('ABCDEFGHJKLMNPQRSTUVWXYZ')}{rng.choice('ABCDEFGHJKLMNPQRSTUVWXYZ')}-{rng.randint(1000, 9999)}",
        "color": rng.choice(COLORS), "car": rng.choice(CARS), "job": rng.choice(JOBS),
        "city": rng.choice(CITIES), "weekday": rng.choice(DAYS), "gate": f"{rng.choice('ABCDE')}{rng.randint(1, 40)}",
        "amount": rng.randint(5, 500), "noun": rng.choice(NOUNS), "verb": rng.choice(VERBS),
    }


def corpus(n: int, n_queries: int, seed: int = 7) -> tuple[list[str], list[tuple[str, int]]]:
    """(messages, [(query, index of the planted message)])."""
    rng = random.Random(seed)
    planted: dict[int, tuple[str, str]] = {}  # position -> (fact, query)
    keys: set[tuple[int, str]] = set()
    positions = rng.sample(range(n), n_queries)
    for pos in positions:
        while True:
            t = rng.randrange(len(TEMPLATES))
            s = _slots(rng)
            fact, query, key = TEMPLATES[t]
            if (t, s[key]) not in keys or key == "code":
                break
        keys.add((t, s[key]))
        planted[pos] = (fact.format(**s), query.format(**s))
    texts = []
    for i in range(n):
        if i in planted:
            texts.append(planted[i][0])
            continue
        s = _slots(rng)
        if rng.random() < 0.4:  # a distractor: same kind of fact, about someone or somewhere else
            t = rng.randrange(len(TEMPLATES))
            fact, _, key = TEMPLATES[t]
            while (t, s[key]) in keys:
                s = _slots(rng)
            texts.append(fact.format(**s))
        else:
            texts.append(rng.choice(CHAT).format(**s))
    return texts, [(planted[p][1], p) for p in sorted(planted)]


def cache_dir():
    from pathlib import Path

    d = Path(__file__).resolve().parent / ".cache" / "recall"
    d.mkdir(parents=True, exist_ok=True)
    return d


def embeddings(texts: list[str], embedder) -> tuple:
    """(matrix, texts per second or None when it came from the cache)."""
    import numpy as np

    digest = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
    path = cache_dir() / f"minilm-{len(texts)}-{digest}.npy"
    if path.exists():
        return np.load(path), None
    out, t0, step = [], time.perf_counter(), 2048
    for i in range(0, len(texts), step):
        out.append(embedder.embed(texts[i : i + step]))
        done = min(i + step, len(texts))
        rate = done / (time.perf_counter() - t0)
        print(f"\rembedding the corpus (cached afterwards): {done}/{len(texts)}, {rate:.0f}/s, "
              f"{(len(texts) - done) / rate:.0f}s left   ", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    mat = np.concatenate(out)
    rate = len(texts) / (time.perf_counter() - t0)
    np.save(path, mat)
    return mat, rate


class Cached:
    """The real embedder, with the corpus's vectors looked up instead of recomputed."""

    loaded = True

    def __init__(self, real, texts, mat):
        self.real = real
        self.row = {t: i for i, t in enumerate(texts)}
        self.mat = mat

    def embed(self, texts):
        import numpy as np

        if all(t in self.row for t in texts):
            return self.mat[[self.row[t] for t in texts]]
        return np.asarray(self.real.embed(texts))


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=100_000, help="messages in the corpus (default 100000)")
    p.add_argument("--queries", type=int, default=200, help="planted facts, one query each")
    a = p.parse_args()
    os.environ["LLMOS_HOME"] = str(temp_home())

    import numpy as np
    from llmos.kernel.memory import Memory
    from llmos.kernel.memory.embed import MiniLM
    from llmos.kernel.store import Store

    texts, queries = corpus(a.n, min(a.queries, a.n))
    real = MiniLM(batch_size=128, threads=0)  # the corpus: all cores
    mat, rate = embeddings(texts, real)
    real.threads = 1  # queries are embedded as the kernel embeds them
    home = temp_home()
    store = Store(home / "llmos.db")
    mem = Memory(store, embedder=Cached(real, texts, mat))
    t0 = time.perf_counter()
    with mem._tx():  # one transaction for the whole load (each append is a savepoint in it)
        ids = [mem.append(1, "user", t) for t in texts]
    load_s = time.perf_counter() - t0
    item_of = {r["ref"]: r["id"] for r in store.db.query("SELECT id, ref FROM mem_items WHERE source = 'conversation'")}
    t0 = time.perf_counter()
    mem.index_pending(batch=8192)
    index_s = time.perf_counter() - t0

    hits = {"fts": 0, "vector": 0, "hybrid": 0}
    lat: list[float] = []
    real.embed(["warm up"])
    for mode in hits:
        mem.search(0, "warm up the mirror", 5, mode=mode)
    for q, pos in queries:
        want = item_of[ids[pos]]
        for mode in hits:
            t = time.perf_counter()
            found = [h["id"] for h in mem.search(0, q, 5, mode=mode)]
            if mode == "hybrid":
                lat.append((time.perf_counter() - t) * 1000)
            hits[mode] += want in found

    # The two vector paths side by side: vec0's own KNN vs the numpy mirror (kernel/memory/search.py).
    conn = store.db.conn
    qv = real.embed([q for q, _ in queries[:20]])
    knn, mirror = [], []
    for v in qv:
        t = time.perf_counter()
        conn.execute("SELECT rowid FROM mem_vec WHERE embedding MATCH ? AND k = 50", [v.astype(np.float32).tobytes()]).fetchall()
        knn.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        mem.vectors.search(conn, v, 50)
        mirror.append((time.perf_counter() - t) * 1000)
    store.close()

    nq = len(queries)
    result = {
        "n": a.n, "queries": nq,
        "fts_recall_at_5": round(hits["fts"] / nq, 3),
        "vector_recall_at_5": round(hits["vector"] / nq, 3),
        "hybrid_recall_at_5": round(hits["hybrid"] / nq, 3),
        "p50_ms": round(pct(lat, 50), 2), "p95_ms": round(pct(lat, 95), 2),
        "vec0_knn_p50_ms": round(pct(knn, 50), 2), "mirror_knn_p50_ms": round(pct(mirror, 50), 2),
        "embed_texts_per_s": round(rate, 1) if rate else None,
        "load_s": round(load_s, 1), "index_s": round(index_s, 1),
    }
    report(result, a.json, [
        f"{a.n} messages, {nq} planted facts, paraphrased queries; recall@5:",
        f"  FTS5 (BM25) alone:   {result['fts_recall_at_5']:.3f}",
        f"  sqlite-vec alone:    {result['vector_recall_at_5']:.3f}",
        f"  hybrid (RRF):        {result['hybrid_recall_at_5']:.3f}",
        f"hybrid query latency (embed + BM25 + vectors + fusion): p50 {result['p50_ms']:.1f} ms, p95 {result['p95_ms']:.1f} ms",
        f"top-50 vectors: vec0 KNN p50 {result['vec0_knn_p50_ms']:.1f} ms vs numpy mirror p50 {result['mirror_knn_p50_ms']:.1f} ms",
        f"embedding: {result['embed_texts_per_s'] or 'cached'} texts/s; load {load_s:.1f}s, index {index_s:.1f}s",
    ])


if __name__ == "__main__":
    main()
