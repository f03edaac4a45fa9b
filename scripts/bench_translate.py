"""Latency of translate mode (rag/read/translate.py) with a real LLM; prints one JSON
object, asserts nothing.

    .venv/bin/python scripts/bench_translate.py --index-dir DIR --llm llamacpp:PATH.gguf [--n 12]

Asks the first N answerable English plain (not timeline) questions of the question set,
after one untimed warm-up, and reports the answer time p50 and max by the number of
sentences translated: the issue's goal is p50 <= 8 s for a three-sentence answer on 2
cores. The extractive reader's time for the same questions is reported beside it, in the
same run, as the baseline the LLM adds to.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from rag.pipeline import RAG


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index-dir", type=Path, required=True, help="an index of seeds/ and eval/articles/*.txt")
    parser.add_argument("--llm", required=True, help="llamacpp:PATH.gguf or openai:URL[#MODEL]")
    parser.add_argument("--questions", type=Path, default=Path("eval/questions.jsonl"))
    parser.add_argument("--n", type=int, default=12)
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.questions.read_text("utf-8").splitlines() if line.strip()]
    questions = [r["question"] for r in rows if r["lang"] == "en" and not r.get("unanswerable") and "periods" not in r][: args.n]
    rag = RAG.open(args.index_dir, seeds=None).use_llm(args.llm, "translate")
    rag.ask(questions[0])  # loads the model and the sentence vectors: not timed
    by_count: dict[int, list[float]] = {}
    extractive: list[float] = []
    for question in questions[1:]:
        started = time.perf_counter()
        answer = rag.ask(question)
        elapsed = time.perf_counter() - started
        started = time.perf_counter()
        rag.ask(question, mode="extractive")
        extractive.append(time.perf_counter() - started)
        if not answer.abstained:
            by_count.setdefault(len(answer.sentences), []).append(elapsed)
    print(json.dumps({
        "questions": len(questions) - 1,
        "translate_s": {str(n): {"n": len(t), "p50": round(statistics.median(t), 2), "max": round(max(t), 2)}
                        for n, t in sorted(by_count.items())},
        "translate_all_p50_s": round(statistics.median([t for ts in by_count.values() for t in ts]), 2),
        "extractive_p50_s": round(statistics.median(extractive), 3),
    }))


if __name__ == "__main__":
    main()
