"""Fit the lexical weights and the gate's thresholds on XQuAD's calibration half; measure them once on the report half.

    .venv/bin/python scripts/calibrate.py --xquad ../shared/benchmarks/xquad --json
    .venv/bin/python scripts/calibrate.py --xquad ../shared/benchmarks/xquad --knob abstention --json

``rag.retrieve.LEXICAL_WEIGHT`` holds, per question language, the lexical weight at
full coverage (``LEXICAL_WEIGHT_RENDERED`` for English searched with its LLM rendering,
swept with ``--llm``); with ``--llm --knob rendering`` it sweeps instead the weight of the
rendering next to the English question (``rag.query_translation.WEIGHT``, a doubtful
rendering keeping half of it). For each language this script sweeps it over ``--grid`` on the questions
of the calibration half (rag.evaluate.xquad.split_of), keeps the weight with the best
R@1 (ties: the best MRR, then the smaller weight), and then measures the report half
once, at the chosen weights and at the ones in the code, so that the reported figure
never comes from the half it was chosen on. Prints one JSON object.

With ``--knob abstention`` it fits the cosine threshold of ``rag.read.gate.ABSTAIN_BELOW``
instead (with ``--llm``, English sentences are chosen with the rendering; the gate's cosine is
the question's own either way). XQuAD has no unanswerable questions,
so each question is asked twice with the thresholds off: as it is, and with its paragraph
filtered out, a near-miss (rag.evaluate.xquad.ask_without_paragraph). The cosine with the
best balanced accuracy (the mean of the near-misses declined and the questions answered, so
it does not depend on how many questions have no answer) is chosen if it beats the code's
beyond sampling noise (``REPLACE_CONFIDENCE``), and the report half is measured once at both.
The coverage threshold (Vietnamese only) is not fitted here: coverage weighs terms by their
IDF in the index, so its scale on 240 Wikipedia paragraphs is not its scale on a news
archive (fitted on XQuAD it was 0.62 for unmarked questions, which declined "viet nam va nga
da thong nhat nhung gi vao nam 2021" over the seeds at 0.51); a cosine is the embedder's.

What it does not fit, and why: XQuAD has no dates, so the date boost cannot be fitted on
it; with ``--llm``, the English side's lexical weight or the rendering's weight is swept,
one at a time, the other at the code's value.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from rag import query_translation, retrieve
from rag.embed import DEFAULT_EMBEDDER, configured_spec
from rag.evaluate.xquad import (
    DEFAULT_CACHE_DIR,
    ask_without_paragraph,
    cache_dir_for,
    evaluate_xquad,
    load_xquad,
    open_xquad_index,
    select_split,
)
from rag.read import gate

GRID = (0.0, 0.1, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
# Cosine thresholds tried with --knob abstention: every cosine the gate can meet, in
# steps finer than the scores' spread between questions.
COSINE_GRID = np.round(np.arange(0.70, 0.95, 0.005), 3)
# The best pair replaces the code's only if it has the higher balanced accuracy in this
# share of bootstrap resamples of the calibration questions: a gain within sampling
# noise is no reason to move a threshold (and the report half cannot break the tie).
REPLACE_CONFIDENCE = 0.95
RESAMPLES = 1000


def measure(rag, items, lang: str, knob: str, weight: float) -> dict:
    """R@1 and MRR of ``lang`` questions with ``knob`` set to ``weight``. The modules are
    the one place the retriever reads the weights from; the script sets the value for
    the run and restores it."""
    kept = current_weight(rag, lang, knob)
    set_weight(rag, lang, knob, weight)
    try:
        result = evaluate_xquad(rag, items, langs=(lang,), answers=False)
    finally:
        set_weight(rag, lang, knob, kept)
    overall = result["configs"]["hybrid"]["overall"]
    return {"R@1": overall["R@1"], "MRR": overall["MRR"], "n": overall["n"]}


def current_weight(rag, lang: str, knob: str) -> float:
    """``lexical``: ``LEXICAL_WEIGHT[lang]``, or ``LEXICAL_WEIGHT_RENDERED`` for English
    with an LLM; ``rendering``: the rendering's weight."""
    if knob == "rendering":
        return query_translation.WEIGHT
    rendered = rag.chat_model is not None and lang == "en"
    return retrieve.LEXICAL_WEIGHT_RENDERED if rendered else retrieve.LEXICAL_WEIGHT[lang]


def set_weight(rag, lang: str, knob: str, weight: float) -> None:
    if knob == "rendering":
        query_translation.WEIGHT = weight
    elif rag.chat_model is not None and lang == "en":
        retrieve.LEXICAL_WEIGHT_RENDERED = weight
    else:
        retrieve.LEXICAL_WEIGHT[lang] = weight


def gate_samples(rag, items, lang: str) -> dict[str, np.ndarray]:
    """The gate's cosine and coverage and rules 3-4's verdict for each ``lang`` question,
    asked as it is (answerable) and without its paragraph (``unanswerable``), with the
    thresholds off for the run."""
    kept = dict(gate.ABSTAIN_BELOW)
    gate.ABSTAIN_BELOW.update({key: (-1.0, -1.0) for key in kept})
    doc_ids = {a.doc_id for a in rag.articles()}
    rows = []
    try:
        for i, item in enumerate(items):
            question = item.questions.get(lang)
            if question is None:
                continue
            # Extractive whatever the LLM: the gate is the same for every reader.
            asked = rag.ask(question, mode="extractive")
            for unanswerable, answer in ((False, asked), (True, ask_without_paragraph(rag, item, question, doc_ids, mode="extractive"))):
                if "cosine" in answer.evidence:  # not a timeline answer
                    rows.append((answer.evidence["cosine"], answer.evidence["coverage"], answer.abstained, unanswerable, i))
    finally:
        gate.ABSTAIN_BELOW.update(kept)
    cosine, coverage, ruled_out, unanswerable, question = (np.array(column) for column in zip(*rows))
    return {"cosine": cosine, "coverage": coverage, "ruled_out": ruled_out, "unanswerable": unanswerable, "question": question}


def declined(samples: dict[str, np.ndarray], min_cosine: float, min_coverage: float) -> np.ndarray:
    return samples["ruled_out"] | (samples["cosine"] < min_cosine) | (samples["coverage"] < min_coverage)


def win_share(samples: dict[str, np.ndarray], challenger: tuple[float, float], incumbent: tuple[float, float]) -> float:
    """In how many of ``RESAMPLES`` bootstrap resamples of the questions (a question's two
    asks drawn together) ``challenger`` has the higher balanced accuracy."""
    rng = np.random.default_rng(0)
    question, unanswerable = samples["question"], samples["unanswerable"]
    ids, index = np.unique(question, return_inverse=True)
    a, b = declined(samples, *challenger), declined(samples, *incumbent)

    def balanced(decided: np.ndarray, weight: np.ndarray) -> float:
        recall = (weight * decided)[unanswerable].sum() / weight[unanswerable].sum()
        answered = (weight * ~decided)[~unanswerable].sum() / weight[~unanswerable].sum()
        return (recall + answered) / 2

    wins = 0
    for _ in range(RESAMPLES):
        weight = np.bincount(rng.integers(0, len(ids), len(ids)), minlength=len(ids))[index]
        wins += balanced(a, weight) > balanced(b, weight)
    return wins / RESAMPLES


def abstention_figures(samples: dict[str, np.ndarray], min_cosine: float, min_coverage: float) -> dict:
    declined_ = declined(samples, min_cosine, min_coverage)
    unanswerable = samples["unanswerable"]
    recall = float(declined_[unanswerable].mean())
    answered = float(1 - declined_[~unanswerable].mean())
    precision = float(unanswerable[declined_].mean()) if declined_.any() else 1.0
    return {"precision": round(precision, 3), "recall": round(recall, 3), "answered": round(answered, 3),
            "balanced_accuracy": round((recall + answered) / 2, 3), "n": int((~unanswerable).sum())}


def fit_abstention(samples: dict[str, np.ndarray], min_coverage: float) -> tuple[float, float]:
    """The cosine threshold with the best balanced accuracy (ties: the lower), beside the
    code's coverage threshold."""
    pairs = [(float(t), min_coverage) for t in COSINE_GRID]
    return max(pairs, key=lambda p: (abstention_figures(samples, *p)["balanced_accuracy"], -p[0]))


def calibrate_abstention(rag, calibration, report, langs: list[str]) -> dict:
    out = {}
    for lang in langs:
        samples = gate_samples(rag, calibration, lang)
        in_code = gate.ABSTAIN_BELOW[lang]
        best = fit_abstention(samples, in_code[1])
        share = win_share(samples, best, in_code)
        chosen = best if share >= REPLACE_CONFIDENCE else in_code
        print(f"{lang}: best {best} (beats {in_code} in {share:.0%} of resamples), chosen {chosen}", file=sys.stderr)
        held_out = gate_samples(rag, report, lang)
        out[lang] = {
            "best": best,
            "best_wins_share": share,
            "chosen": chosen,
            "in_code": in_code,
            "calibration_at_best": abstention_figures(samples, *best),
            "calibration_at_in_code": abstention_figures(samples, *in_code),
            "report_at_best": abstention_figures(held_out, *best),
            "report_at_in_code": abstention_figures(held_out, *in_code),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--xquad", required=True, help="folder with xquad.vi.json and xquad.en.json")
    parser.add_argument("--queries", default="en,vi,vi-nodiac", help="languages to fit, comma-separated")
    parser.add_argument("--grid", default=",".join(map(str, GRID)), help="weights to try, comma-separated")
    parser.add_argument("--cache-dir", default=str(DEFAULT_CACHE_DIR))
    parser.add_argument("--llm", default="", help="sweep with query translation by this LLM (rag.read.llm spec); "
                        "renderings are cached, so each question is translated once for the whole sweep")
    parser.add_argument("--knob", choices=("lexical", "rendering", "abstention"), default="lexical",
                        help="what to fit: the lexical weight, (with --llm) the rendering's weight, or the gate's thresholds")
    parser.add_argument("--json", action="store_true", help="print JSON only (progress goes to stderr)")
    args = parser.parse_args(argv)
    if args.knob == "rendering" and not args.llm:
        parser.error("--knob rendering needs --llm: without an LLM there is no rendering")
    grid = [float(w) for w in args.grid.split(",")]
    docs, items = load_xquad(args.xquad)
    rag = open_xquad_index(docs, cache_dir_for(args.cache_dir, configured_spec() or DEFAULT_EMBEDDER, args.xquad, None))
    if args.llm:
        rag.use_llm(args.llm)
    calibration, report = select_split(items, "calibration"), select_split(items, "report")
    if args.knob == "abstention":
        out = {"llm": args.llm or None, "knob": args.knob,
               "languages": calibrate_abstention(rag, calibration, report, args.queries.split(","))}
        rag.close()
        print(json.dumps(out, indent=None if args.json else 2))
        return 0
    out: dict = {"grid": grid, "llm": args.llm or None, "knob": args.knob, "languages": {}}
    for lang in args.queries.split(","):
        sweep = {}
        for weight in grid:
            sweep[weight] = measure(rag, calibration, lang, args.knob, weight)
            print(f"{lang} {weight}: calibration R@1 {sweep[weight]['R@1']}", file=sys.stderr)
        chosen = max(grid, key=lambda w: (sweep[w]["R@1"], sweep[w]["MRR"], -w))
        current = current_weight(rag, lang, args.knob)
        out["languages"][lang] = {
            "calibration": {str(w): r for w, r in sweep.items()},
            "chosen": chosen,
            "in_code": current,
            "report_at_chosen": measure(rag, report, lang, args.knob, chosen),
            "report_at_in_code": measure(rag, report, lang, args.knob, current),
        }
    rag.close()
    print(json.dumps(out, indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
