"""What every reader returns: an ``Answer`` with its sentences and their citations."""

from __future__ import annotations

from dataclasses import dataclass, field

from rag.retrieve import Hit

ABSTAIN_MESSAGE = {
    "en": "The articles do not contain this information.",
    "vi": "Không tìm thấy thông tin này trong các bài viết.",
}


@dataclass
class Citation:
    n: int
    doc_id: str
    chunk_id: str
    title: str
    date: str | None
    source: str | None
    # The passage shown: the retrieved chunk, widened to whole sentences where a quoted
    # sentence runs past its edge (chunks cut sentences longer than a chunk).
    text: str
    quote: str  # the supporting sentence(s)
    quote_spans: list[tuple[int, int]]  # offsets of each quoted sentence inside ``text``
    start: int  # offsets of ``text`` in the cleaned article
    end: int
    caption: bool = False  # the passage is a photo caption (rag.clean.CAPTION_MARK)


@dataclass
class AnswerSentence:
    text: str  # as shown: the quote, its translation, or the LLM's sentence
    citations: list[int]  # the [n] that support it
    supported: bool
    support: float = 0.0  # how well it aligns with its cited sentence
    original: str | None = None  # the quoted source sentence, when ``text`` is its translation
    # What the checks found wrong, in a reader's words: "420 is missing", "vague".
    flags: list[str] = field(default_factory=list)

    def cited(self) -> str:
        """The sentence followed by its citation markers: "… 51.000 người. [1]"."""
        return f"{self.text} {''.join(f'[{n}]' for n in self.citations)}".strip()


def render(sentences: list[AnswerSentence]) -> str:
    """An answer's text: its sentences, each with its citation markers."""
    return " ".join(s.cited() for s in sentences)


@dataclass
class Answer:
    question: str
    answer: str  # the sentences with their [n] markers; nothing else glued on
    abstained: bool
    language: str  # the question's: "en", "vi" or "vi-nodiac"
    citations: list[Citation]
    passages: list[Hit] = field(default_factory=list)  # what was looked at, best first
    evidence: dict[str, float] = field(default_factory=dict)  # the gate's signals (rag.read.gate)
    note: str | None = None  # for the user, shown beside the answer: why it abstained, a date caveat
    sentences: list[AnswerSentence] = field(default_factory=list)
    reader: str = "extractive"  # which reader wrote it: extractive, translate, generate (+ the LLM spec)
    # The language of the quoted evidence when it differs from the question's ("vi" for an
    # English question answered by quotes): metadata for the UI, not part of ``answer``.
    evidence_language: str | None = None

    @property
    def mode(self) -> str:
        """The kind of reader that wrote it, without its LLM: "extractive", "translate",
        "generate" or "timeline"."""
        return self.reader.split(" ", 1)[0]
    # Timeline and comparison questions (rag.read.timeline): the answer as a structure;
    # ``answer`` is then its text rendering, one line per period or counterpart.
    timeline: list | None = None  # list[rag.read.timeline.Period], in date order
    comparison: list | None = None  # list[rag.read.timeline.Side], in the order asked
    change: str | None = None  # what changed, written by the LLM from the cited points; None without one


def abstention(question: str, language: str, hits: list[Hit], evidence: dict[str, float], note: str | None = None) -> Answer:
    """"Not in the articles", in the question's language, with the passages looked at."""
    message = ABSTAIN_MESSAGE["en" if language == "en" else "vi"]
    return Answer(question, message, True, language, [], hits, evidence=evidence, note=note)
