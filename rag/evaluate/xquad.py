"""The XQuAD benchmark: 240 Vietnamese Wikipedia paragraphs, 1190 questions asked in
English, Vietnamese, or Vietnamese without diacritics.

Why: it is the one public set where the same question exists in both languages over the
same Vietnamese text, so it measures cross-lingual retrieval (en->vi) against the
monolingual ceiling (vi->vi) and the cost of typing without marks (vi-nodiac).

Each paragraph is its own document (``xq-<article>-<paragraph>``, titled with the
article title, undated); the paragraph a question was written on is its only gold
document. Retrieval fetches 10 passages and ranks *documents* by the first passage of
each (a paragraph can give several chunks), so R@k and MRR are paragraph-level.

Answers are extractive sentences, so SQuAD exact match is near zero by construction;
F1 says how much of the sentence is the answer, and "answer in sentence" (the
normalised gold answer occurs in the answer) says whether the right sentence was found.

XQuAD has no unanswerable questions, so each question is also asked with its paragraph
filtered out (``ask_without_paragraph``): the rest of its article stays, on the same
topic, without the answer, a near-miss the system should decline. Abstention precision
and recall count those against the same questions asked with the paragraph in.

The index is cached under ``<cache>/<embedder>-<hash>/``, the hash covering the
chunking constants, the index format, the dataset file and ``max_paragraphs``, so a
change to any of them builds a new one. It is built in batches and saved after each,
so an interrupted build resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rag.chunk import EMBED_OVERLAP, MAX_CHUNK_TOKENS, OVERLAP_SENTENCES
from rag.embed import DEFAULT_EMBEDDER, configured_spec
from rag.evaluate import metrics as m
from rag.evaluate.questions import (
    CONFIGS,
    LANGS,
    answer_sentences,
    breakdown,
    index_meta,
    latency_summary,
    parse_configs,
    primary_config,
    retrieval_summary,
    round_floats,
)
from rag.load import LoadError, RawDocument
from rag.pipeline import RAG
from rag.read import Answer
from rag.store import DEFAULT_STORE, Filters
from rag.store.local import FORMAT_VERSION
from rag.text import fold

DEFAULT_CACHE_DIR = Path(".cache/xquad")
PASSAGES = 10  # passages retrieved per question; documents are ranked within them
BUILD_BATCH = 16  # paragraphs embedded between two saves of the cache
# Per-question rows keep the first passages, shortened: 1190 questions x 10 whole
# paragraphs would make metrics.json (and --json) several megabytes.
SHOWN_PASSAGES = 5
SHOWN_CHARS = 300

Progress = Callable[[int, int], None]


# Halves of XQuAD by article (all paragraphs of an article on one side, so no topic is
# in both): weights and thresholds are fitted on "calibration", figures reported on
# "report". The index always holds every paragraph; only the questions are split.
SPLITS = ("calibration", "report")


@dataclass
class XQuADItem:
    id: str
    doc_id: str
    questions: dict[str, str]  # lang -> question text
    answers: list[str]  # gold answer texts in the Vietnamese paragraph
    article: str = ""  # the Wikipedia article's title


def split_of(article: str) -> str:
    """The half an article belongs to: a hash of its title, so the split is the same on
    every machine and does not move when articles are added or reordered."""
    return SPLITS[hashlib.sha256(article.encode("utf-8")).digest()[0] % 2]


def select_split(items: Sequence[XQuADItem], split: str | None) -> list[XQuADItem]:
    """The questions of one half (``SPLITS``), or all of them for None."""
    if split is None:
        return list(items)
    if split not in SPLITS:
        raise ValueError(f"unknown XQuAD split '{split}'; use {' or '.join(SPLITS)}")
    return [item for item in items if split_of(item.article) == split]


def load_xquad(folder: str | Path, max_paragraphs: int | None = None) -> tuple[list[RawDocument], list[XQuADItem]]:
    """The Vietnamese paragraphs as documents and the questions on them (English text
    joined by the shared question ids)."""
    folder = Path(folder)
    vi, en = (_read(folder / f"xquad.{lang}.json") for lang in ("vi", "en"))
    english = {qa["id"]: qa["question"] for art in en["data"] for para in art["paragraphs"] for qa in para["qas"]}
    docs: list[RawDocument] = []
    items: list[XQuADItem] = []
    for a, article in enumerate(vi["data"]):
        title = article.get("title", "").replace("_", " ")
        for p, para in enumerate(article["paragraphs"]):
            if max_paragraphs is not None and len(docs) >= max_paragraphs:
                return docs, items
            doc_id = f"xq-{a:02d}-{p}"
            docs.append(RawDocument(doc_id, para["context"], f"{folder / 'xquad.vi.json'}#{doc_id}", title=title))
            for qa in para["qas"]:
                questions = {"vi": qa["question"], "vi-nodiac": fold(qa["question"])}
                if qa["id"] in english:
                    questions["en"] = english[qa["id"]]
                items.append(XQuADItem(qa["id"], doc_id, questions, [ans["text"] for ans in qa["answers"]], title))
    return docs, items


def _read(path: Path) -> dict:
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise LoadError(f"{path}: cannot read the XQuAD file ({exc}); pass the folder with xquad.vi.json and xquad.en.json") from exc
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise LoadError(f"{path}: not SQuAD v1.1 JSON (no \"data\" list)")
    return data


def cache_dir_for(cache_root: str | Path, embedder_spec: str, folder: str | Path, max_paragraphs: int | None) -> Path:
    """``<cache_root>/<embedder>-<hash of settings and dataset>``."""
    dataset = hashlib.sha256((Path(folder) / "xquad.vi.json").read_bytes()).hexdigest()
    settings = {"format": FORMAT_VERSION, "max_tokens": MAX_CHUNK_TOKENS, "overlap": OVERLAP_SENTENCES,
                "embed_overlap": EMBED_OVERLAP, "dataset": dataset, "max_paragraphs": max_paragraphs}
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]
    slug = re.sub(r"[^A-Za-z0-9.]+", "-", embedder_spec).strip("-")
    return Path(cache_root) / f"{slug}-{digest}"


def open_xquad_index(
    docs: list[RawDocument],
    directory: Path,
    embedder_spec: str | None = None,
    progress: Progress | None = None,
    store: str = DEFAULT_STORE,
) -> RAG:
    """The cached index of ``docs`` at ``directory``, built (or completed) first if
    needed. ``progress(paragraphs done, paragraphs to do)``. ``store``: as RAG_STORE,
    except that Milvus Lite always goes in ``directory`` (the user's own index is not
    the benchmark's); a Milvus server is used as given."""
    spec = embedder_spec or configured_spec() or DEFAULT_EMBEDDER
    if store.startswith("milvus:") and not store.startswith("milvus://"):
        store = "milvus"
    rag = RAG.open(directory, embedder=spec, seeds=None, create=True, store=store)
    stored = {a.doc_id for a in rag.articles()}
    todo = [d for d in docs if d.doc_id not in stored]
    for start in range(0, len(todo), BUILD_BATCH):
        batch = todo[start : start + BUILD_BATCH]

        def tick(_stage: str, done: int, total: int, start: int = start, size: int = len(batch)) -> None:
            if progress and total:
                progress(start + size * done // total, len(todo))

        rag.add_documents(batch, tick)
    return rag


def evaluate_xquad(
    rag: RAG,
    items: Sequence[XQuADItem],
    langs: Sequence[str] = ("en",),
    configs: Sequence[str] = ("hybrid",),
    progress: Progress | None = None,
    answers: bool = True,
) -> dict:
    """Paragraph-level retrieval per configuration and, for the default one, answer
    EM/F1/answer-in-sentence, for every question in every language of ``langs``."""
    configs = parse_configs(configs)
    primary = primary_config(configs)
    unknown = [lang for lang in langs if lang not in LANGS]
    if unknown or not langs:
        raise ValueError(f"unknown query language {', '.join(unknown) or '(none)'}; use some of {', '.join(LANGS)}")
    if not items:
        raise ValueError("no XQuAD questions to evaluate")
    jobs = [(item, lang) for lang in langs for item in items if lang in item.questions]
    doc_ids = {a.doc_id for a in rag.articles()}
    started = time.time()
    rag.search(jobs[0][0].questions[jobs[0][1]], k=PASSAGES)  # warm-up, untimed
    if answers:
        rag.ask(jobs[0][0].questions[jobs[0][1]])
    rows = []
    if progress:
        progress(0, len(jobs))
    for done, (item, lang) in enumerate(jobs, 1):
        rows.append(_evaluate_one(rag, item, lang, configs, primary, answers, doc_ids))
        if progress:
            progress(done, len(jobs))
    result = {
        "configs": {name: breakdown(rows, lambda rs, n=name: retrieval_summary(rs, n)) for name in configs},
        "answers": breakdown(rows, answer_summary) if answers else {},
        "latency_ms": latency_summary(rows),
        "questions": [_public_row(r) for r in rows],
        "meta": {
            "kind": "xquad",
            "queries": list(langs),
            "n_questions": len(rows),
            "n_paragraphs": rag.stats()["articles"],
            "passages_retrieved": PASSAGES,
            "configs": list(configs),
            "default_config": primary,
            "index": index_meta(rag),
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "duration_s": round(time.time() - started, 1),
            "warnings": [],
        },
    }
    return round_floats(result)


def ask_without_paragraph(rag: RAG, item: XQuADItem, question: str, doc_ids: set[str], **options) -> Answer:
    """``question`` asked over every paragraph but its own (``doc_ids``: all of them);
    ``options`` go to ``RAG.ask``."""
    return rag.ask(question, filters=Filters(doc_ids=doc_ids - {item.doc_id}), **options)


def _evaluate_one(rag: RAG, item: XQuADItem, lang: str, configs: Sequence[str], primary: str, answers: bool,
                  doc_ids: set[str]) -> dict:
    question = item.questions[lang]
    row: dict = {"item": item, "lang": lang, "question": question, "n_relevant": 1, "ranking": {}, "answer_ms": None}
    for name in configs:
        started = time.perf_counter()
        hits = rag.search(question, k=PASSAGES, **CONFIGS[name])
        elapsed = (time.perf_counter() - started) * 1000
        ranked = list(dict.fromkeys(h.chunk.doc_id for h in hits))
        row["ranking"][name] = [d == item.doc_id for d in ranked]
        if name == primary:
            row["retrieval_ms"] = elapsed
            row["retrieved"] = [
                {"rank": h.rank, "doc_id": h.chunk.doc_id, "chunk_id": h.chunk.chunk_id, "title": h.chunk.title, "score": h.score,
                 "text": _shorten(h.chunk.text), "relevant": h.chunk.doc_id == item.doc_id}
                for h in hits[:SHOWN_PASSAGES]
            ]
    row.update(answer="", abstained=None, citations=[], citation_relevant=[], exact_match=None, f1=None, answer_in_sentence=None,
               abstained_without_paragraph=None)
    if answers:
        started = time.perf_counter()
        answer = rag.ask(question)
        row["answer_ms"] = (time.perf_counter() - started) * 1000
        text = "" if answer.abstained else answer_sentences(answer.answer)
        row.update(
            answer=answer.answer,
            abstained=answer.abstained,
            citations=[c.chunk_id for c in answer.citations],
            citation_relevant=[c.doc_id == item.doc_id for c in answer.citations],
            exact_match=m.exact_match(text, item.answers),
            f1=m.f1_score(text, item.answers),
            answer_in_sentence=m.answer_in_text(text, item.answers),
            abstained_without_paragraph=ask_without_paragraph(rag, item, question, doc_ids).abstained,
        )
    return row


def _shorten(text: str) -> str:
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS].rstrip() + "…"


def answer_summary(rows: Sequence[dict]) -> dict:
    citations = [flag for r in rows for flag in r["citation_relevant"]]
    declined = sum(bool(r["abstained_without_paragraph"]) for r in rows)  # right
    wrongly = sum(bool(r["abstained"]) for r in rows)  # the paragraph was there
    return {
        "exact_match": m.mean(r["exact_match"] for r in rows),
        "f1": m.mean(r["f1"] for r in rows),
        "answer_in_sentence": m.mean(r["answer_in_sentence"] for r in rows),
        "abstention_rate": m.mean(float(r["abstained"]) for r in rows if r["abstained"] is not None),
        "citation_precision": m.ratio(sum(citations), len(citations)),
        # Near-misses (the question without its paragraph) against the questions as asked.
        "abstention_precision": m.ratio(declined, declined + wrongly),
        "abstention_recall": m.ratio(declined, sum(r["abstained_without_paragraph"] is not None for r in rows)),
        "n": len(rows),
    }


def _public_row(row: dict) -> dict:
    item: XQuADItem = row["item"]
    return {
        "id": item.id,
        "question": row["question"],
        "lang": row["lang"],
        "unanswerable": False,
        "gold_docs": [item.doc_id],
        "gold_answers": item.answers,
        "first_relevant_rank": {name: m.first_relevant_rank(flags) for name, flags in row["ranking"].items()},
        "correct": None if row["answer_in_sentence"] is None else bool(row["answer_in_sentence"]),
        "abstained": row["abstained"],
        "abstained_without_paragraph": row["abstained_without_paragraph"],
        "answer": row["answer"],
        "exact_match": row["exact_match"],
        "f1": row["f1"],
        "answer_in_sentence": row["answer_in_sentence"],
        "citations": row["citations"],
        "citation_relevant": row["citation_relevant"],
        "retrieved": row["retrieved"],
        "retrieval_ms": row["retrieval_ms"],
        "answer_ms": row["answer_ms"],
    }
