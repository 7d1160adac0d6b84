"""Shared statistics for proportions (one implementation for every pillar).

>>> [round(x, 4) for x in wilson(50, 100)]
[0.4038, 0.5962]
>>> proportion(3, 4, "no answers").value
0.75
"""

from __future__ import annotations

import math

from csm_lib.registry import Value

Z95 = 1.959963984540054  # the 97.5% quantile of the standard normal
SMALL_N = 30  # METRICS.md: a metric on fewer than 30 answers is flagged


def wilson(k: int, n: int, z: float = Z95) -> tuple[float | None, float | None]:
    """Wilson score interval of a proportion k / n (fractions, inside [0, 1]).

    >>> wilson(0, 0)
    (None, None)
    >>> [round(x, 4) for x in wilson(0, 10)]
    [0.0, 0.2775]
    """
    if n <= 0:
        return None, None
    p = k / n
    z2 = z * z
    den = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / den
    # the interval always contains p (exactly 0 / 1 at the ends); guard float rounding
    return max(0.0, min(centre - half, p)), min(1.0, max(centre + half, p))


def proportion(k: int, n: int, reason: str, small_note: str | None = None) -> Value:
    """k / n with its Wilson interval; null with ``reason`` when n = 0.

    Fewer than 30 in the denominator adds ``small_note`` (default: a generic flag).

    >>> proportion(1, 4, "none").note
    'fewer than 30 in the denominator (n=4)'
    """
    if n <= 0:
        return Value.null(reason, n=0)
    lo, hi = wilson(k, n)
    note = ""
    if n < SMALL_N:
        note = (
            small_note
            if small_note is not None
            else f"fewer than {SMALL_N} in the denominator (n={n})"
        )
    return Value(k / n, n=n, low=lo, high=hi, note=note)
