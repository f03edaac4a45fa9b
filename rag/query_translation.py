"""An English question rendered in Vietnamese by the LLM, for retrieval.

The small encoder crosses languages worst: XQuAD en->vi R@1 0.79 against 0.95 vi->vi
(README "XQuAD"). With an LLM configured, an English question is also translated into
Vietnamese (about 1.9 s for a news question with the local 1.5B model on 2 cores; cached, so
a repeated question costs nothing) and retrieval uses both (rag.retrieve): the dense side
searches with the English query vector plus ``WEIGHT`` times the rendering's, which ranks
chunks exactly as the same sum of the two cosines does, and the lexical side also matches
the translation's folded tokens. A translation that lost a number, a date or a name of the question, or added one,
is probably another question ("Which famous Indian practiced civil disobedience?" became
one about Vietnamese history): it gets half the weight. Without an LLM nothing changes.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass

from rag.dates import query_dates
from rag.glossary import GLOSSARY
from rag.read import facts
from rag.read.llm import translate
from rag.text import fold

# The rendering's weight next to the English question (its query vector's and, scaled, its
# lexical terms'), swept on XQuAD's calibration half with the LLM and the worked-example
# prompt below (scripts/calibrate.py --llm --knob rendering): R@1 0.809 / 0.813 / 0.813 /
# 0.821 / 0.805 / 0.756 / 0.685 at 0.35 / 0.5 / 0.75 / 1 / 1.5 / 2 / 3. (With the bare prompt
# the best was 0.815 at 0.35: looser renderings earned less weight.)
WEIGHT = 1.0
# A doubtful rendering (changed_facts) keeps this share of WEIGHT.
DOUBTFUL_SHARE = 0.5
# The rendering prompt: an instruction and four worked examples. With a bare instruction
# ("Translate the English text into Vietnamese …") the 1.5B model answered about
# a third of XQuAD's questions instead of translating them ("What year did Tesla die?" ->
# "Tesla đã qua đời vào năm 2019."), and looped on some for 13 s. With the examples 135 of
# 150 renderings were questions (52 before). The examples are generic news questions, not
# taken from XQuAD or the question set. They are a fixed prefix, so llama.cpp reads them
# once and reuses them for each question that follows.
PROMPT = ("Translate the user's English question into Vietnamese. Reply with the Vietnamese question only; "
          "keep all names, numbers and dates exactly.")
EXAMPLES = (
    ("How many students from Vietnam studied in Germany in 2019?", "Có bao nhiêu sinh viên Việt Nam học tập tại Đức năm 2019?"),
    ("Which company built the first railway in the region, and why?",
     "Công ty nào đã xây dựng tuyến đường sắt đầu tiên trong khu vực, và tại sao?"),
    ("Who did President Obama meet in Paris?", "Tổng thống Obama đã gặp ai ở Paris?"),
    ("What is the name of the largest river that flows through the city?", "Con sông lớn nhất chảy qua thành phố tên là gì?"),
)
# Tokens a rendering may take: a Vietnamese rendering runs about two tokens per English
# word, so three per word and a margin stop a looping model early without cutting a
# long question short.
TOKENS_PER_WORD, TOKEN_MARGIN = 3, 16
# Renderings kept per process, keyed by the model object and the question.
CACHE_SIZE = 4096
_cache: OrderedDict[tuple[int, str], str | None] = OrderedDict()


@dataclass
class Rendering:
    text: str
    weight: float  # of its dense and lexical evidence, next to the English question's


def render_question(chat_model, question: str) -> Rendering | None:
    """The Vietnamese rendering of an English ``question`` (the caller checks the
    language), or None when the model gave nothing back."""
    key = (id(chat_model), question)
    if key not in _cache:
        _cache[key] = translate(chat_model, question, PROMPT, EXAMPLES,
                                max_tokens=TOKEN_MARGIN + TOKENS_PER_WORD * len(question.split()))
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    _cache.move_to_end(key)
    text = _cache[key]
    if not text:
        return None
    return Rendering(text, WEIGHT if not changed_facts(question, text) else WEIGHT * DOUBTFUL_SHARE)


def changed_facts(question: str, rendering: str) -> list[str]:
    """The numbers, dates and names of the English question that its rendering lacks,
    and the numbers and dates it adds ("How long is the overpass?" -> "… dài khoảng 1.5 km")."""
    lost = [facts.show(n) for n in sorted(facts.numbers(question) ^ facts.numbers(rendering))]
    lost += sorted(set(query_dates(question)) ^ set(query_dates(rendering)))
    folded = fold(rendering)
    for name in re.findall(r"(?<=\s)[A-Z][\w-]+", question):  # capitalised, not the first word
        spelled = [fold(name), *(fold(p) for p in GLOSSARY.get(name.lower(), ()))]
        if not any(re.search(rf"\b{re.escape(s)}\b", folded) for s in spelled):
            lost.append(name)
    return lost
