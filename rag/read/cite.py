"""Citations: the passages an answer quotes, numbered [1], [2] in order of first use,
each with the offsets of its quoted sentences so the UI can highlight them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rag.read.answer import AnswerSentence, Citation
from rag.read.articles import ArticleReader
from rag.retrieve import Hit

if TYPE_CHECKING:  # rag.read.select reads rag.read.articles, as this module does
    from rag.read.select import Candidate


class Citations:
    """Builds the numbered citations of one answer, one sentence at a time."""

    def __init__(self, articles: ArticleReader):
        self.articles = articles
        self.list: list[Citation] = []
        self._by_chunk: dict[str, Citation] = {}

    def cite(self, hit: Hit, span: tuple[int, int] | None = None) -> int:
        """The number of ``hit``'s passage, adding it on first use; ``span`` (article
        offsets of a whole sentence) is quoted and highlighted. A quoted sentence that
        runs past the chunk's edge widens the passage to show it whole."""
        chunk = hit.chunk
        citation = self._by_chunk.get(chunk.chunk_id)
        if citation is None:
            citation = Citation(len(self.list) + 1, chunk.doc_id, chunk.chunk_id, chunk.title, chunk.date, chunk.source,
                                chunk.text, "", [], chunk.start, chunk.end, chunk.caption)
            self._by_chunk[chunk.chunk_id] = citation
            self.list.append(citation)
        if span is not None:
            self._quote(citation, span)
        return citation.n

    def quote(self, candidate: Candidate) -> AnswerSentence:
        """A chosen sentence as it is quoted in an answer: its text, cited."""
        n = self.cite(candidate.hit, candidate.span)
        text = self.articles.text(candidate.hit.chunk.doc_id)[candidate.span[0] : candidate.span[1]]
        return AnswerSentence(text, [n], True, candidate.cosine)

    def _quote(self, citation: Citation, span: tuple[int, int]) -> None:
        text = self.articles.text(citation.doc_id)
        start, end = min(citation.start, span[0]), max(citation.end, span[1])
        if (start, end) != (citation.start, citation.end):
            shift = citation.start - start
            citation.quote_spans = [(s + shift, e + shift) for s, e in citation.quote_spans]
            citation.start, citation.end, citation.text = start, end, text[start:end]
        relative = (span[0] - citation.start, span[1] - citation.start)
        if relative not in citation.quote_spans:
            citation.quote_spans.append(relative)
            citation.quote_spans.sort()
        citation.quote = " ".join(citation.text[s:e] for s, e in citation.quote_spans)
