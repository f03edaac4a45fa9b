"""Evaluation harness: retrieval and answer metrics over a question file or XQuAD,
written as reports (Markdown, HTML, JSON, plots) that the CLI and the UI both use.

- ``metrics``: pure metric functions (ranks, nDCG, answer correctness, span relevance, SQuAD EM/F1).
- ``questions``: ``evaluate_questions`` over a JSONL question file and an open ``RAG``.
- ``xquad``: the XQuAD paragraph benchmark, with its cached index.
- ``report``: ``write_report`` and ``latest_report``.
- ``cli``: the ``rag eval`` subcommand.
"""
