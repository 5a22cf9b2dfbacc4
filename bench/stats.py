"""Figures the benches share: percentiles by nearest rank."""

from __future__ import annotations


def percentile(values: list[float], pct: float) -> float:
    """Return the pct-th percentile (nearest rank) of values; NaN when there are none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]
