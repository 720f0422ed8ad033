"""The smallest difference of a headline metric that matters to the user (`compare.margin`, `ftrun
compare --margin`): each metric's default, why, and the largest margin a metric allows.

A share of examples or an F1 lies in [0, 1]: one point (0.01) is about the spread between seeds of a
fine-tuned small model and the smallest gain benchmarks treat as real. MCC and correlations lie in
[-1, 1], twice the range, so 0.02 is the same share of it. An error (`neg_mae`...) is in the target's
own unit, so no number fits every task: its default is 2% of the best method's error.
"""

from __future__ import annotations

SIGNED_METRICS = ("mcc", "pearson", "spearman")  # in [-1, 1]: a difference may reach 2
PROPORTION_DEFAULT = 0.01
SIGNED_DEFAULT = 0.02
ERROR_SHARE = 0.02


def is_error(metric: str) -> bool:
    """An error ranked by its negative (`neg_mae`): unbounded, in the target's unit."""
    return metric.startswith("neg_")


def largest(metric: str) -> float | None:
    """The largest difference the metric can show; None where it is unbounded."""
    if is_error(metric):
        return None
    return 2.0 if metric in SIGNED_METRICS else 1.0


def default_margin(metric: str, best_score: float | None = None) -> float:
    if is_error(metric):
        return ERROR_SHARE * abs(best_score) if best_score else 0.0
    return SIGNED_DEFAULT if metric in SIGNED_METRICS else PROPORTION_DEFAULT


def why_default(metric: str) -> str:
    """The default's reason, in a phrase a report can print."""
    if is_error(metric):
        return f"the default for an error: {ERROR_SHARE:.0%} of the best method's"
    if metric in SIGNED_METRICS:
        return f"the default for {metric}, which lies in [-1, 1]: 1% of its range"
    return f"the default for {metric}, a proportion: one point"


def margin_problem(metric: str, margin: float, key: str) -> str | None:
    """Why `margin` does not fit `metric`, or None where it does."""
    if margin < 0:
        return f"{key} = {margin:g}: a margin is a size of difference, so 0 or more (0: the metric's default)"
    bound = largest(metric)
    if bound is not None and margin > bound:
        kind = "a correlation" if bound == 2.0 else "a proportion"
        return (
            f"{key} = {margin:g} does not fit {metric}, {kind}: no difference of it exceeds {bound:g} "
            f"(its default: {default_margin(metric):g})"
        )
    return None
