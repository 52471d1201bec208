"""Figures of repeated runs: min / median / max, and how RESULTS.md prints them."""

import statistics


def mmm(values: list[float]) -> dict:
    return {"min": min(values), "median": statistics.median(values), "max": max(values), "n": len(values)}


def fmt(stats: dict, digits: int = 0, unit: str = "") -> str:
    f = f"{{:,.{digits}f}}"
    return f"{f.format(stats['median'])}{unit} ({f.format(stats['min'])}–{f.format(stats['max'])})"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]
