"""English answers from Vietnamese evidence: the extractive reader picks the sentences,
the LLM translates only those.

Translating what was picked, rather than asking the LLM to answer, keeps the answer as
exact as the quotes: the 1.5B local model renders a given sentence faithfully far more
often than it writes a faithful answer (README "Answers"). It still slips, so every
translation is checked against its source (rag.read.facts): a number, date, unit or
name that is dropped or changed flags it, and the sentence is shown in the original
with the flag. (Translating it again gives the same text: decoding is greedy.)
"""

from __future__ import annotations

import re

import numpy as np

from rag.embed import Embedder
from rag.read import facts
from rag.read.answer import Answer, AnswerSentence, abstention, render
from rag.read.cite import Citations
from rag.read.extractive import ExtractiveReader, evidence_language
from rag.read.llm import Token, translate
from rag.retrieve import Hit, QueryAnalysis
from rag.store import Store

# Short and plain: a longer prompt with formatting rules made the 1.5B model loop on long
# sentences (76 s for one) and drop more facts. Worked examples and place names sent in
# English ("Liên bang Nga" -> "Russia") made more translations pass the fact check (26 of 48
# quoted sentences, against 21) but let wrong ones through: key-fact accuracy of the English
# questions in this mode was 0.803, against 0.864 for the same run's quotes ("Huân chương Hữu
# nghị" became "Russian Presidential Honors"). Not adopted (README "Answer modes").
PROMPT = "Translate the Vietnamese text into English. Translate every phrase; keep all names, numbers and dates exactly."
# "51.000" is fifty-one thousand in Vietnamese; the model read it as 510,000. Numbers go
# to the model in English notation ("51,000", "1.5"); the check compares values.
_GROUPED = re.compile(r"(?<![\d.,])\d{1,3}(?:\.\d{3})+(?![\d.,]\d)")
_DECIMAL = re.compile(r"(?<![\d.,])(\d+),(\d+)(?![\d.,]\d)")


class TranslateReader:
    name = "translate"

    def __init__(self, store: Store, embedder: Embedder, chat_model, spec: str = ""):
        self.extractive = ExtractiveReader(store, embedder)
        self.chat_model = chat_model
        self.spec = spec

    def answer(
        self, question: str, analysis: QueryAnalysis, hits: list[Hit], query_vector: np.ndarray, on_token: Token | None = None
    ) -> Answer:
        if analysis.language != "en":  # the evidence is already in the question's language
            return self.extractive.answer(question, analysis, hits, query_vector, on_token)
        selection = self.extractive.select(question, analysis, hits, query_vector)
        if selection.verdict.abstain:
            return abstention(question, analysis.language, hits, selection.verdict.signals, selection.verdict.reason)
        citations = Citations(selection.articles)
        sentences = [citations.quote(c) for c in selection.chosen]
        for s, c in zip(sentences, selection.chosen):
            translate_quote(self.chat_model, s, c.hit.chunk.date, on_token)
        return Answer(
            question, render(sentences), False, analysis.language, citations.list, hits, evidence=selection.verdict.signals,
            sentences=sentences, reader=f"translate ({self.spec})" if self.spec else "translate",
            evidence_language=evidence_language(analysis.language),
        )


def translate_quote(chat_model, sentence: AnswerSentence, published: str | None, on_token: Token | None = None) -> None:
    """Translate a quoted Vietnamese sentence into English in place: ``text`` becomes the
    translation and ``original`` the quote, or, when the fact check fails (module
    docstring), ``text`` stays the quote and ``flags`` say what the check found. One
    sentence per call: given several numbered lines, the 1.5B model merged and swapped them."""
    source = sentence.original = sentence.text
    translation = translate(chat_model, _english_numbers(source), PROMPT, on_token=on_token)
    if on_token and translation:
        on_token(" ")
    if not translation:
        sentence.flags = ["the translation is missing"]
        return
    check = facts.compare(source, translation, published)
    if check.ok:
        sentence.text = translation
    else:
        sentence.flags = check.flags()


def _english_numbers(text: str) -> str:
    text = _GROUPED.sub(lambda m: m[0].replace(".", ","), text)
    return _DECIMAL.sub(lambda m: m[0] if len(m[2]) == 3 else f"{m[1]}.{m[2]}", text)
