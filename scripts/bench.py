"""Speed and memory of the seed pipeline on this machine; prints figures, asserts nothing.

    make bench        # or: .venv/bin/python scripts/bench.py [--runs 20]

Index build from seeds/ (cold, into a temporary directory), index load, search and
ask latency (p50/p95 over the example questions), peak resident memory.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from pathlib import Path

from rag.embed import load_embedder
from rag.pipeline import RAG

QUESTIONS = [
    "What did Vietnam and Russia agree in 2021?",
    "Việt Nam và Nga đã nhất trí những gì năm 2021?",
    "viet nam va nga da nhat tri nhung gi nam 2021",
    "Có bao nhiêu lưu học sinh Việt Nam tại Nhật Bản?",
    "When did Vietnam and the EU sign the FPA?",
    "What did Vietnam and France agree about nuclear power plants?",
]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10, help="repetitions of each question")
    parser.add_argument("--seeds", type=Path, default=Path("seeds"))
    args = parser.parse_args()

    t = time.perf_counter()
    embedder = load_embedder()
    print(f"embedder load        {time.perf_counter() - t:8.2f} s   ({embedder.spec})")
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        rag = RAG.build([args.seeds], Path(tmp) / "index", embedder)
        stats = rag.stats()
        print(f"index build (seeds)  {time.perf_counter() - t:8.2f} s   ({stats['articles']} articles, {stats['chunks']} chunks)")
        t = time.perf_counter()
        rag = RAG.open(Path(tmp) / "index", embedder=embedder, seeds=None)
        print(f"index load           {time.perf_counter() - t:8.3f} s")
        for name, call in (("search", rag.search), ("ask", rag.ask)):
            times = []
            for _ in range(args.runs):
                for q in QUESTIONS:
                    t = time.perf_counter()
                    call(q)
                    times.append((time.perf_counter() - t) * 1000)
            p50, p95 = statistics.median(times), percentile(times, 0.95)
            print(f"{name:<6} latency        p50 {p50:6.1f} ms   p95 {p95:6.1f} ms   (n={len(times)})")
    print(f"peak RSS             {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:8.0f} MiB")


if __name__ == "__main__":
    main()
