"""This system against the retriever people build first with LangChain, on the same
embedder and the same questions (eval/questions.jsonl); prints R@1/R@5/MRR per language.

The peer, as measured in shared/NOTES.md: RecursiveCharacterTextSplitter(1000, 200) on
the raw files, FAISS.from_documents, similarity_search. A peer chunk is relevant by the
rule `rag eval` uses (rag/evaluate/metrics.py), with gold spans located in the raw text.

    .venv/bin/python scripts/compare_langchain.py     # needs `make llm` (langchain-community)
"""

from __future__ import annotations

import json
import tempfile
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


def main() -> None:
    embedder = load_embedder()
    questions = [q for q in load_questions(QUESTIONS) if not q.unanswerable]
    raw = {p.stem: p.read_text("utf-8") for p in sorted(SEEDS.glob("*.txt"))}
    splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200, add_start_index=True)
    docs = [d for doc_id, text in raw.items() for d in splitter.split_documents([Document(text, metadata={"doc_id": doc_id})])]
    peer = FAISS.from_documents(docs, EmbedderEmbeddings(embedder))

    with tempfile.TemporaryDirectory() as tmp:
        ours = RAG.build([SEEDS], Path(tmp) / "index", embedder)
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
