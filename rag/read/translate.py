"""English answers from Vietnamese evidence: the extractive reader picks the sentences,
the LLM translates only those.

Translating what was picked, rather than asking the LLM to answer, keeps the answer as
exact as the quotes: the 1.5B local model renders a given sentence faithfully far more
often than it writes a faithful answer (README "Answers"). It still slips, so every
translation is checked against its source (rag.read.facts): a number, date, unit or
name that is dropped or changed flags it, the sentence is translated once more on its
own, and if that fails too the original is shown in its place, with the flag.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np

from rag.embed import Embedder
from rag.read import facts
from rag.read.answer import Answer, AnswerSentence, abstention
from rag.read.cite import Citations
from rag.read.extractive import ExtractiveReader, evidence_language, render
from rag.read.llm import stream
from rag.retrieve import Hit, QueryAnalysis
from rag.store import Store

Token = Callable[[str], None]

SYSTEM_PROMPT = """You translate Vietnamese news sentences into English.
Translate each numbered sentence completely and faithfully; do not add, drop or explain anything.
Keep every number, date, amount, unit and name exactly as written (write names without diacritics).
Reply with the same numbers, one line per sentence, and nothing else."""
_LINE = re.compile(r"^\s*(\d+)[.):]\s*(.+?)\s*$")


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
        sources = []
        for c in selection.chosen:
            n = citations.cite(c.hit, c.span)
            sources.append((selection.articles.text(c.hit.chunk.doc_id)[c.span[0] : c.span[1]], n, c))
        translations = self._translate([s for s, _, _ in sources], on_token)
        sentences = []
        for (source, n, c), translation in zip(sources, translations):
            check = facts.compare(source, translation or "", c.hit.chunk.date) if translation else None
            if check is not None and not check.ok:
                retry = self._translate([source], None)[0]
                retry_check = facts.compare(source, retry or "", c.hit.chunk.date) if retry else None
                if retry_check is not None and retry_check.ok:
                    translation, check = retry, retry_check
            if translation and check.ok:
                sentences.append(AnswerSentence(translation, [n], True, c.cosine, original=source))
            else:
                flags = check.flags() if check else ["the translation is missing"]
                sentences.append(AnswerSentence(source, [n], True, c.cosine, original=source, flags=flags))
        return Answer(
            question, render(sentences), False, analysis.language, citations.list, hits, evidence=selection.verdict.signals,
            sentences=sentences, reader=f"translate ({self.spec})" if self.spec else "translate",
            evidence_language=evidence_language(analysis.language),
        )

    def _translate(self, sources: list[str], on_token: Token | None) -> list[str | None]:
        """One call for all the sentences (one prompt to read); each line back is matched
        to its sentence by its number, and a missing line is None."""
        user = "\n".join(f"{i}. {s}" for i, s in enumerate(sources, 1))
        lines = _LineStream(on_token)
        reply = stream(self.chat_model, [("system", SYSTEM_PROMPT), ("human", user)], lines.feed)
        lines.close()
        found: dict[int, str] = {}
        for line in reply.splitlines():
            m = _LINE.match(line)
            if m and 1 <= int(m[1]) <= len(sources):
                found.setdefault(int(m[1]), m[2])
        if not found and len(sources) == 1 and reply.strip():  # one sentence, answered without its number
            found[1] = reply.strip().splitlines()[0]
        return [found.get(i) for i in range(1, len(sources) + 1)]


class _LineStream:
    """Passes the reply on line by line, without the "1." numbering, so a stream reads
    as an answer."""

    def __init__(self, on_token: Token | None):
        self.on_token = on_token
        self.buffer = ""

    def feed(self, token: str) -> None:
        self.buffer += token
        while "\n" in self.buffer:
            line, self.buffer = self.buffer.split("\n", 1)
            self._emit(line)

    def close(self) -> None:
        self._emit(self.buffer)
        self.buffer = ""

    def _emit(self, line: str) -> None:
        m = _LINE.match(line)
        if self.on_token and m:
            self.on_token(m[2] + " ")
