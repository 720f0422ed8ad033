"""The verdict in words: a table of readings and cost ratios, one plain sentence per method, and the
recommendation; as markdown (first in report.md) and as console lines (the end of a sweep)."""

from __future__ import annotations

from typing import Any

from runner.compare import equivalence
from runner.compare.undertuned import NOT_TUNED
from runner.compare.verdict import BEST, COSTS, NO_PAIR, MethodVerdict, Verdict
from runner.formatting import difference_text, ratio_text, score_text

RULE = (
    "Each method against the best one (chosen on validation among the methods tuned enough; the test "
    "split chooses nothing): the test difference, method − best, averaged over the seeds both ran, with "
    "its 95% interval from a hierarchical bootstrap (test examples and seed pairs resampled together). "
    "Equivalent: the whole interval within ± the margin; better or worse: not equivalent and the whole "
    "interval above or below 0; inconclusive: the interval holds 0 and reaches past the margin (more "
    "seeds or test data needed). Costs are ratios to the best method's (median over seeds); stored per "
    "task: an adapter's folder, or the whole saved model. Pareto: no other method scores as well on "
    "test at no more of every cost."
)


def markdown(verdicts: list[Verdict], several: bool = False) -> str:
    parts = []
    for verdict in verdicts:
        where = f" (eval set {verdict.group})" if several else ""
        lines = [
            f"## The verdict{where}",
            "",
            f"**{recommendation(verdict)}**",
            "",
            f"Margin: {verdict.margin:g} {verdict.metric} ({verdict.margin_source}). {RULE}",
            "",
            "| method | configuration | seeds | reading | test difference (95% CI) | "
            + " | ".join(name for _, name, _ in COSTS)
            + " | Pareto |",
            "|---|---|---|---|---|" + "---|" * len(COSTS) + "---|",
        ]
        lines += [_row(verdict, m) for m in verdict.methods]
        lines += ["", *(f"- {s}" for s in sentences(verdict)), ""]
        parts.append("\n".join(lines))
    return "\n".join(parts)


def console_lines(verdicts: list[Verdict]) -> list[str]:
    """The verdict as the terminal shows it: the sentences, then the recommendation."""
    lines = []
    for verdict in verdicts:
        where = f" (eval set {verdict.group})" if len(verdicts) > 1 else ""
        lines.append(f"verdict{where}, margin {verdict.margin:g} {verdict.metric} ({verdict.margin_source}):")
        lines += [f"  {s}" for s in sentences(verdict)]
        lines.append(f"  {recommendation(verdict)}")
    return lines


def recommendation(verdict: Verdict) -> str:
    if verdict.best is None:
        return (
            "No verdict: every method is flagged not tuned enough; widen its search as each line says "
            "and run it again."
        )
    unranked = [m.method for m in verdict.methods if m.reading == NOT_TUNED]
    # A method left out for too little tuning may be as good as any: say so beside the choice.
    aside = f" Not ranked, as not tuned enough: {', '.join(unranked)}." if unranked else ""
    return _choice(verdict, bool(unranked)) + aside


def _choice(verdict: Verdict, some_unranked: bool) -> str:
    chosen = verdict.recommended
    if chosen != verdict.best:
        return f"Recommendation: {chosen}, the cheapest method at least as good as the best ({verdict.best})."
    others = [m for m in verdict.methods if m.ranked and m.method != verdict.best]
    if not others:
        return f"Recommendation: {verdict.best}, the only method ranked."
    equivalent = [m.method for m in others if m.reading == equivalence.EQUIVALENT]
    if equivalent:
        return f"Recommendation: {verdict.best}; {', '.join(equivalent)} are equivalent to it but cost more."
    unsure = [m.method for m in others if m.reading in (equivalence.INCONCLUSIVE, NO_PAIR)]
    why = (
        f"{', '.join(unsure)} cannot yet be told from it (more seeds or test data needed)"
        if unsure
        else f"every other {'ranked ' if some_unranked else ''}method is worse"
    )
    return f"Recommendation: {verdict.best}; no method is shown equivalent to it: {why}."


def sentences(verdict: Verdict) -> list[str]:
    return [_sentence(verdict, m) + _may_improve(m) for m in verdict.methods]


def _may_improve(method: MethodVerdict) -> str:
    """A ranked method with signs of too little search leads anyway: it may do better still."""
    if method.reading == NOT_TUNED or not method.flags:
        return ""
    found = "; ".join(f.found for f in method.flags)
    advice = "; ".join(dict.fromkeys(f.advice for f in method.flags))
    return f" Ranked though not tuned enough ({found}): it leads already, and may do better with {advice}."


def _sentence(verdict: Verdict, method: MethodVerdict) -> str:
    metric, best, d = verdict.metric, verdict.best, method.difference
    name = f"{method.method} ({method.configuration})"
    if method.reading == NOT_TUNED:
        found = "; ".join(f.found for f in method.flags)
        advice = "; ".join(dict.fromkeys(f.advice for f in method.flags))
        return f"{name} is not tuned enough ({found}): try {advice}. It is not ranked."
    if method.reading == BEST:
        return (
            f"{name} is best on validation ({score_text(metric, method.validation)}); "
            f"on test {score_text(metric, method.test_mean)}."
        )
    if method.reading == NO_PAIR or d is None:
        return f"{name} shares no training seed with {best}, so no paired difference was measured."
    found = f"{difference_text(metric, d.estimate)} ({_interval(metric, d)})"
    seeds = "" if d.seeds > 1 else " (one seed: the interval covers the test examples only)"
    costs = _costs_phrase(verdict, method)
    if method.reading == equivalence.EQUIVALENT:
        return f"{name} is equivalent to {best}: {found} lies within ±{verdict.margin:g}{seeds}{costs}."
    if method.reading == equivalence.BETTER:
        return (
            f"{name} is better than {best} on test by {found}, though validation chose {best}{seeds}{costs}."
        )
    if method.reading == equivalence.WORSE:
        beyond = "beyond the margin" if d.high < -verdict.margin else "possibly by less than the margin"
        return f"{name} is worse than {best}: {found}, {beyond}{seeds}{costs}."
    return (
        f"{name} cannot be told from {best}: {found} holds both 0 and differences beyond "
        f"±{verdict.margin:g}; more seeds or test data needed{seeds}{costs}."
    )


def _costs_phrase(verdict: Verdict, method: MethodVerdict) -> str:
    shown = [
        f"{ratio_text(r)} the {name}"
        for key, name, _ in COSTS
        if key in ("train_seconds", "peak_memory_mb", "stored_mb") and (r := verdict.ratio(method, key))
    ]
    return f", at {', '.join(shown)}" if shown else ""


def _row(verdict: Verdict, method: MethodVerdict) -> str:
    d = method.difference
    difference = (
        "–"
        if d is None
        else f"{difference_text(verdict.metric, d.estimate)} ({_interval(verdict.metric, d)})"
    )
    ratios = [
        "1×"
        if method.reading == BEST and method.costs.get(key) is not None
        else ratio_text(verdict.ratio(method, key))
        for key, _, _ in COSTS
    ]
    pareto = "–" if not method.ranked else ("dominated" if method.dominated else "front")
    return (
        f"| {method.method} | {method.configuration} | {method.seeds} | {method.reading} | {difference} | "
        + " | ".join(ratios)
        + f" | {pareto} |"
    )


def _interval(metric: str, d: equivalence.Difference) -> str:
    return f"95% CI {difference_text(metric, d.low)} to {difference_text(metric, d.high)}"


def as_json(found: Verdict) -> dict[str, Any]:
    """A group's verdict: the margin, the best, each method's reading, difference, costs and flags."""
    return {
        "group": found.group,
        "metric": found.metric,
        "margin": found.margin,
        "margin_source": found.margin_source,
        "best": found.best,
        "recommended": found.recommended,
        "recommendation": recommendation(found),
        "methods": [
            {
                "method": m.method,
                "configuration": m.configuration,
                "reading": m.reading,
                "difference": None if m.difference is None else vars(m.difference),
                "costs": m.costs,
                "cost_ratios": {key: found.ratio(m, key) for key in m.costs},
                "pareto": None if not m.ranked else not m.dominated,
                "not_tuned_enough": [vars(f) for f in m.flags],
            }
            for m in found.methods
        ],
        "sentences": sentences(found),
    }
