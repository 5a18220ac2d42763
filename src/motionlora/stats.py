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


def proportion_ci95(values: Sequence[float]) -> tuple[float, float, float, int]:
    """(fraction, low, high, n) of yes/no readings (1.0 / 0.0) with a Wilson 95% interval.

    A Student-t interval on 0/1 data leaves [0, 1] (6 of 8 right gave [0.36, 1.14]) and collapses
    to a point when every reading agrees; Wilson's stays inside [0, 1] and is wide for small n."""
    data = [float(v) for v in values]
    if not data:
        raise ValueError("proportion_ci95 needs at least one value")
    if any(v not in (0.0, 1.0) for v in data):
        raise ValueError(f"proportion_ci95 takes 0/1 readings, got {sorted(set(data) - {0.0, 1.0})}")
    n, z = len(data), 1.959963984540054
    p = sum(data) / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return p, max(0.0, centre - half), min(1.0, centre + half), n
