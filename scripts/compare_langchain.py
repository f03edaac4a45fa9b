"""This system against the retriever people build first with LangChain, on the same
embedder and the same questions (eval/questions.jsonl); prints R@1/R@5/MRR per language.

The peer, as measured in shared/NOTES.md: RecursiveCharacterTextSplitter(1000, 200) on
the raw files, FAISS.from_documents, similarity_search. A peer chunk is relevant by the
rule `rag eval` uses (rag/evaluate/metrics.py), with gold spans located in the raw text.

Also the wall time of indexing seeds/ from the files, both systems in the same process
with the same loaded embedder, interleaved (the order alternates) ``--repeats`` times:
this project's whole `RAG.build` (load, clean, chunk, embed, write the store) against
reading the files, splitting them and `FAISS.from_documents`.

    .venv/bin/python scripts/compare_langchain.py     # needs `make llm` (langchain-community)
    .venv/bin/python scripts/compare_langchain.py --repeats 5 --index-only
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from langchain_community.vectorstores import FAISS
from langchain_core.documents import Document
from langchain_text_splitters import RecursiveCharacterTextSplitter

from rag.embed import load_embedder
from rag.evaluate import metrics as m
from rag.evaluate.questions import load_questions, relevant_chunks
from rag.langchain import EmbedderEmbeddings
from rag.pipeline import RAG

SEEDS = Path("seeds")
QUESTIONS = Path("eval/questions.jsonl")


def summary(rankings: dict[str, list[list[bool]]]) -> dict[str, tuple[float, float, float]]:
    measures = (lambda r: m.recall_at_k(r, 1), lambda r: m.recall_at_k(r, 5), m.reciprocal_rank)
    return {lang: tuple(round(m.mean(f(x) for x in flags), 3) for f in measures) for lang, flags in sorted(rankings.items())}


def build_peer(embedder) -> tuple[dict[str, str], list[Document], FAISS]:
    raw = {p.stem: p.read_text("utf-8") for p in sorted(SEEDS.glob("*.txt"))}
    splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200, add_start_index=True)
    docs = [d for doc_id, text in raw.items() for d in splitter.split_documents([Document(text, metadata={"doc_id": doc_id})])]
    return raw, docs, FAISS.from_documents(docs, EmbedderEmbeddings(embedder))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="indexing runs of each system, interleaved (default 3)")
    parser.add_argument("--index-only", action="store_true", help="time indexing only, skip the retrieval figures")
    args = parser.parse_args()
    embedder = load_embedder()
    embedder.embed_passages(["khởi động"])  # the first call's one-off setup is neither system's cost

    with tempfile.TemporaryDirectory() as tmp:
        builds = {"ours": lambda i: RAG.build([SEEDS], Path(tmp) / f"index{i}", embedder), "langchain": lambda i: build_peer(embedder)}
        times: dict[str, list[float]] = {name: [] for name in builds}
        built = {}
        for i in range(args.repeats):
            for name in list(builds)[:: 1 if i % 2 == 0 else -1]:
                started = time.perf_counter()
                built[name] = builds[name](i)
                times[name].append(time.perf_counter() - started)
        ours, (raw, docs, peer) = built["ours"], built["langchain"]
        ratios = [o / p for o, p in zip(times["ours"], times["langchain"])]
        print(f"indexing {SEEDS}/, {args.repeats} interleaved runs; embedder {embedder.spec}; seconds per run")
        for name, values in times.items():
            print(f"{name:<10} " + " ".join(f"{v:6.2f}" for v in values) + f"   median {statistics.median(values):6.2f}")
        print("ours/langchain " + " ".join(f"{r:.2f}" for r in ratios) + f"   median {statistics.median(ratios):.2f}")
        if args.index_only:
            return

        questions = [q for q in load_questions(QUESTIONS) if not q.unanswerable]
        results: dict[str, dict[str, list[list[bool]]]] = {"langchain (vanilla)": {}, "rag hybrid": {}, "rag dense": {}}
        for q in questions:
            spans = {d: [s for span in q.gold_spans if (s := m.locate_span(raw[d], span))] for d in q.gold_docs}
            hits = peer.similarity_search(q.question, k=10)
            intervals = [(h.metadata["start_index"], h.metadata["start_index"] + len(h.page_content)) for h in hits]
            flags = [m.chunk_relevant(iv, spans.get(h.metadata["doc_id"], [])) for iv, h in zip(intervals, hits)]
            results["langchain (vanilla)"].setdefault(q.lang, []).append(flags)
            relevant = relevant_chunks(ours, q, [])
            for mode in ("hybrid", "dense"):
                ranked = ours.search(q.question, k=10, mode=mode)
                results[f"rag {mode}"].setdefault(q.lang, []).append([h.chunk.chunk_id in relevant for h in ranked])
    print(f"{len(questions)} answerable questions; embedder {embedder.spec}; R@1 / R@5 / MRR")
    for name, rankings in results.items():
        allflags = {"all": [f for flags in rankings.values() for f in flags]}
        figures = {**summary(allflags), **summary(rankings)}
        print(f"{name:<20} " + "   ".join(f"{lang}: {v[0]:.3f} / {v[1]:.3f} / {v[2]:.3f}" for lang, v in figures.items()))
    print(json.dumps({"peer_chunks": len(docs)}))


if __name__ == "__main__":
    main()
