"""Confidence intervals shared by evaluation (aggregates) and the promotion gate (paired tests)."""

from __future__ import annotations

import math
from typing import Sequence


def mean_ci95(values: Sequence[float]) -> tuple[float, float, float, int]:
    """(mean, low, high, n) with a Student-t 95% interval; the interval is the mean itself for n = 1."""
    from scipy.stats import t as student_t

    data = [float(v) for v in values]
    if not data:
        raise ValueError("mean_ci95 needs at least one value")
    n = len(data)
    mean = sum(data) / n
    half = 0.0
    if n > 1:
        sd = math.sqrt(sum((v - mean) ** 2 for v in data) / (n - 1))
        half = float(student_t.ppf(0.975, n - 1)) * sd / math.sqrt(n)
    return mean, mean - half, mean + half, n
