"""Follow-up questions without an LLM: carry the previous turn's dates and names
forward when the new question has none ("What about Japan?" after a question about
2021 keeps "2021"; "Còn năm 2024 thì sao?" keeps the countries)."""

from __future__ import annotations

import re

from rag.dates import query_dates

# Capitalised words that start questions or sentences, not names.
_NOT_NAMES = {
    "what", "who", "when", "where", "which", "why", "how", "did", "does", "do", "is", "are", "was", "were", "the", "and",
    "in", "on", "of", "about", "còn", "có", "ai", "gì", "khi", "tại", "bao", "vậy", "thì", "sao", "những", "các", "năm",
}
# A question this short, or one that starts like these, leans on the previous turn.
_FOLLOW_UP_START = re.compile(r"^(?:and|what about|how about|and in|còn|thế còn|vậy|thì sao)\b", re.IGNORECASE)


def names(text: str) -> list[str]:
    """Runs of capitalised words: "Liên bang Nga" -> ["Liên", "Nga"] is fine for BM25."""
    found: list[list[str]] = []
    previous_capital = False
    for word in re.findall(r"[\w-]+", text):
        capital = word[0].isupper() and word.lower() not in _NOT_NAMES
        if capital and previous_capital:
            found[-1].append(word)
        elif capital:
            found.append([word])
        previous_capital = capital
    return [" ".join(run) for run in found]


def is_follow_up(question: str) -> bool:
    """Does the question lean on the previous turn? Short questions and ones that start
    like "What about ...", "Còn ... thì sao?" do."""
    return bool(_FOLLOW_UP_START.search(question.strip())) or len(question.split()) <= 5


def contextualize(question: str, history: list[str]) -> str:
    """The question, completed with what the last question said and it does not."""
    if not history or not is_follow_up(question):
        return question
    previous = history[-1]
    additions = []
    if not query_dates(question):
        additions += query_dates(previous)
    if len(names(question)) < 2:
        additions += [n for n in names(previous) if n.lower() not in question.lower()]
    return f"{question} ({' '.join(additions)})" if additions else question


REWRITE_PROMPT = """Rewrite the last question of this conversation as one standalone question, in the same
language as the last question, keeping every name, place and date it needs from the earlier questions.
Reply with the rewritten question only.

Earlier questions:
{history}
Last question: {question}"""


def rewrite_follow_up(chat_model, question: str, history: list[str]) -> str:
    """With an LLM: the follow-up rewritten as a standalone question. Falls back to
    ``contextualize`` if the model's reply is empty or implausibly long."""
    prompt = REWRITE_PROMPT.format(history="\n".join(f"- {h}" for h in history[-3:]), question=question)
    reply = chat_model.invoke([("human", prompt)]).content
    reply = reply.strip().strip('"').splitlines()[0].strip() if isinstance(reply, str) and reply.strip() else ""
    if not reply or len(reply) > 3 * len(question) + 200:
        return contextualize(question, history)
    return reply
