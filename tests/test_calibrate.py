"""The gate's threshold fit (scripts/calibrate.py --knob abstention) on signals whose
best thresholds are known. The signals themselves come from real asks (rag eval --xquad
checks the near-miss asks, tests/test_eval.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np


def _calibrate():
    spec = importlib.util.spec_from_file_location("calibrate", Path(__file__).parents[1] / "scripts" / "calibrate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _samples(rows):
    """Signals as ``gate_samples`` returns them; here every ask is its own question."""
    cosine, coverage, ruled_out, unanswerable = (np.array(column) for column in zip(*rows))
    return {"cosine": cosine, "coverage": coverage, "ruled_out": ruled_out, "unanswerable": unanswerable,
            "question": np.arange(len(rows))}


def test_the_cosine_threshold_that_separates_near_misses_is_kept():
    calibrate = _calibrate()
    answerable = [(c, 0.9, False, False) for c in (0.84, 0.86, 0.88, 0.90)]
    near_misses = [(c, 0.9, False, True) for c in (0.78, 0.80, 0.82, 0.835)] + [(0.95, 0.9, True, True)]  # the last: rule 3 or 4
    samples = _samples(answerable + near_misses)
    min_cosine, min_coverage = calibrate.fit_abstention(samples, 0.0)
    assert 0.835 < min_cosine <= 0.84 and min_coverage == 0.0  # the lowest that declines every near-miss
    assert calibrate.abstention_figures(samples, min_cosine, min_coverage) == {
        "precision": 1.0, "recall": 1.0, "answered": 1.0, "balanced_accuracy": 1.0, "n": 4}
    # The code's English threshold, 0.80, lets three near-misses through.
    assert calibrate.abstention_figures(samples, 0.80, 0.0)["recall"] == 0.4


def test_the_coverage_threshold_is_kept_and_the_cosine_fitted_beside_it():
    """Coverage is an IDF share, whose scale depends on the index: it is not fitted on
    XQuAD's 240 paragraphs, only the cosine is, beside the code's coverage."""
    calibrate = _calibrate()
    answerable = [(0.90, c, False, False) for c in (0.6, 0.7, 0.8)]
    near_misses = [(0.90, c, False, True) for c in (0.2, 0.3, 0.4)] + [(0.80, 0.9, False, True)]
    samples = _samples(answerable + near_misses)
    min_cosine, min_coverage = calibrate.fit_abstention(samples, 0.5)
    assert min_coverage == 0.5 and 0.80 < min_cosine <= 0.90
    assert calibrate.abstention_figures(samples, min_cosine, min_coverage)["balanced_accuracy"] == 1.0
    assert calibrate.abstention_figures(samples, min_cosine, 0.0)["recall"] == 0.25  # without coverage


def test_a_gain_within_noise_does_not_move_the_threshold():
    calibrate = _calibrate()
    rng = np.random.default_rng(1)
    answerable = [(c, 0.9, False, False) for c in rng.normal(0.85, 0.03, 200)]
    near_misses = [(c, 0.9, False, True) for c in rng.normal(0.82, 0.03, 200)]  # overlapping, as measured
    samples = _samples(answerable + near_misses)
    best = calibrate.fit_abstention(samples, 0.0)
    near = (round(best[0] - 0.01, 3), 0.0)  # worse on these samples, by two questions of 400
    accuracy = {pair: calibrate.abstention_figures(samples, *pair)["balanced_accuracy"] for pair in (best, near)}
    assert accuracy[near] < accuracy[best]
    assert calibrate.win_share(samples, best, near) < calibrate.REPLACE_CONFIDENCE
    far = (round(best[0] - 0.04, 3), 0.0)
    assert calibrate.win_share(samples, best, far) >= calibrate.REPLACE_CONFIDENCE
