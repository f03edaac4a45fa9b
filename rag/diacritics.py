"""Diacritics put back into a Vietnamese question typed without them.

The encoder barely reads Vietnamese without marks: dense R@1 0.21 on XQuAD for
"ai la ke thu chinh cua nguoi norman" against 0.85 for the same question with them
(shared/NOTES.md), so BM25 on folded tokens had to carry those questions alone. The
marks can be put back from the passages that BM25 finds for the question: they spell
the question's words, and their word pairs pick between readings of one folded
syllable ("chung" is "chung", "chúng" or "chứng"). No model, no dictionary to
maintain: the corpus is the lexicon, so it covers names and terms as they are written
in the articles, and grows with them.

    >>> restore("hop tac quoc phong", ["Hai bên nhất trí hợp tác quốc phòng."])
    'hợp tác quốc phòng'
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable

from rag.text import fold

_WORD = re.compile(r"\w+", re.UNICODE)
# Question phrases, which passages rarely contain: without them "co bao nhieu" reads
# "cơ bão nhiều" in articles about a storm, and "vao nam nao" "vào nam nào". They count
# as if every passage read held them once, so their word pairs win where they fit.
QUESTION_PHRASES = (
    "có bao nhiêu", "là gì", "là ai", "ở đâu", "khi nào", "bao giờ", "tại sao", "vì sao",
    "thế nào", "năm nào", "ngày nào", "tháng nào", "mấy",
)
# A pair of readings seen side by side in the passages scores PAIR_WEIGHT * log(1 + n):
# seen once, it outweighs a reading 8 times as frequent on its own (3 * log 2 = log 8).
# Set by that reasoning, not swept.
PAIR_WEIGHT = 3.0


def restore(question: str, passages: Iterable[str]) -> str:
    """``question`` with each word spelled as the passages most plausibly spell it: the
    reading that maximises its frequency among the word's readings plus how often it
    follows the previous word's reading (Viterbi). A word the passages lack stays as
    typed; a capital stays a capital; everything between the words is kept."""
    readings: dict[str, Counter[str]] = defaultdict(Counter)
    pairs: Counter[tuple[str, str]] = Counter()

    def count(text: str, times: int = 1) -> None:
        words = _WORD.findall(text.lower())
        for i, word in enumerate(words):
            readings[fold(word)][word] += times
            if i:
                pairs[_paired(words[i - 1]), _paired(word)] += times

    passages = list(passages)
    for text in passages:
        count(text)
    for phrase in QUESTION_PHRASES:
        count(phrase, max(len(passages), 1))
    matches = list(_WORD.finditer(question))
    if not matches:
        return question
    options = []
    for match in matches:
        typed = match.group().lower()
        counts = readings.get(fold(typed)) or Counter({typed: 1})
        total = sum(counts.values())
        options.append({word: math.log(n / total) for word, n in counts.items()})
    # best[i][reading] = (score of the best path ending in it, the previous reading)
    best: list[dict[str, tuple[float, str | None]]] = [{w: (s, None) for w, s in options[0].items()}]
    for layer in options[1:]:
        best.append({
            word: max((score + own + PAIR_WEIGHT * math.log1p(pairs[_paired(previous), _paired(word)]), previous)
                      for previous, (score, _) in best[-1].items())
            for word, own in layer.items()
        })
    word = max(best[-1], key=lambda w: best[-1][w][0])
    chosen = [word]
    for layer in reversed(best[1:]):
        word = layer[word][1]
        chosen.append(word)
    chosen.reverse()
    out, end = [], 0
    for match, word in zip(matches, chosen):
        typed = match.group()
        out += [question[end : match.start()], word[:1].upper() + word[1:] if typed[:1].isupper() else word]
        end = match.end()
    return "".join(out) + question[end:]


def _paired(word: str) -> str:
    """A word as pairs count it: every number is one word, so that "năm 2021" in the
    passages teaches "nam 2013" in a question."""
    return "0" if word.isdigit() else word
