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
from rag.read.facts import PLACE_NAMES
from rag.read.llm import MAX_ANSWER_TOKENS, Token, translate
from rag.retrieve import Hit, QueryAnalysis
from rag.store import Store

# Short and plain, with worked examples: a longer prompt with formatting rules made the
# 1.5B model loop on long sentences (76 s for one) and drop more facts. Measured on the 48
# distinct sentences the extractive reader quotes for the question set's English questions
# (each checked by rag.read.facts): 21 translations kept every fact with the bare
# instruction, 23 with the examples, 26 with the examples and the place names below. The
# examples are made up, not taken from the articles.
PROMPT = "Translate the Vietnamese text into English. Translate every phrase; keep all names, numbers and dates exactly."
EXAMPLES = (
    ("Ngày 15/3/2022, Bộ trưởng Nguyễn Văn An đã tiếp Đại sứ Pháp tại Hà Nội.",
     "On 15/3/2022, Minister Nguyễn Văn An received the French Ambassador in Hà Nội."),
    ("Dự án có tổng vốn đầu tư 1.5 tỷ USD, dự kiến hoàn thành vào tháng 6/2025.",
     "The project has a total investment of 1.5 billion USD and is expected to be completed in June 2025."),
    ("Hai bên nhất trí tăng cường hợp tác trong các lĩnh vực giáo dục, y tế và năng lượng; trao đổi đoàn các cấp.",
     "The two sides agreed to strengthen cooperation in education, health and energy; and to exchange delegations at all levels."),
)
# Place names go to the model in English, as numbers go in English notation: it rendered
# "Liên bang Nga" as "the United States" in 9 of those 48 sentences. A phrase of two or
# more words ("Liên bang Nga", "Nhật Bản") is always a place; a one-word one ("Nga",
# "Đức") only when capitalised and not after a capitalised word or a title ("Nguyễn Thị
# Nga", "ông Đức" are people), nor first in the sentence.
_PLACE = re.compile(r"(?<!\w)(" + "|".join(re.escape(p) for p in sorted(PLACE_NAMES, key=len, reverse=True)) + r")(?!\w)",
                    re.IGNORECASE)
_PERSON_TITLES = frozenset("ông bà anh chị em cô chú bác cụ".split())
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
    translation = translate(chat_model, english_places(_english_numbers(source)), PROMPT, EXAMPLES, on_token,
                            max_tokens=MAX_ANSWER_TOKENS)
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


def english_places(text: str) -> str:
    """``text`` with its place names in English (see ``_PLACE``)."""
    def swap(m: re.Match) -> str:
        phrase = m[1]
        if " " not in phrase:
            before = text[: m.start()].split()
            if not phrase[0].isupper() or not before or before[-1][0].isupper() or before[-1].lower() in _PERSON_TITLES:
                return phrase
        elif not phrase[0].isupper():
            return phrase
        return PLACE_NAMES[phrase.lower()]
    return _PLACE.sub(swap, text)
