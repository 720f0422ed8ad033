"""The verdict: the equivalence rule on cases with known answers, the under-tuning flags and what they
keep out, the margin's checks, the report's order and the Pareto front."""

from __future__ import annotations

import json

import numpy as np
import pytest

from runner.compare import comparison as comparing
from runner.compare import equivalence, undertuned, verdict, verdict_text
from runner.compare.report import write_report
from runner.compare.verdict import MethodVerdict

from .conftest import ftrun_in_process
from .test_compare_tasks import contract_run

MARGIN = 0.01


def correctness(n: int, difference: float, seed: int, discordant: float) -> tuple[np.ndarray, np.ndarray]:
    """The best method right on 80% of n examples; the other method right on exactly `difference` more
    (or fewer) of them, with a share `discordant` of examples where only one of them is right each way."""
    rng = np.random.default_rng(seed)
    best = rng.random(n) < 0.8
    other = best.copy()
    order = rng.permutation(n)
    right, wrong = order[best[order]], order[~best[order]]
    swap = int(discordant * n)
    other[right[:swap]] = False
    other[wrong[:swap]] = True
    shift = round(abs(difference) * n)
    if difference > 0:
        other[wrong[swap : swap + shift]] = True
    elif difference < 0:
        other[right[swap : swap + shift]] = False
    return other, best


def seeded_difference(
    n: int, difference: float, seeds: int = 3, discordant: float = 0.02
) -> equivalence.Difference:
    pairs = []
    for seed in range(seeds):
        other, best = correctness(n, difference, seed, discordant)
        pairs.append((lambda i, c=other: float(c[i].mean()), lambda i, c=best: float(c[i].mean())))
    return equivalence.hierarchical_difference(pairs, n, resamples=400)


@pytest.mark.parametrize(
    ("difference", "expected"),
    [(0.0, "equivalent"), (0.05, "better"), (-0.05, "worse")],
)
def test_large_test_sets_give_the_known_answer(difference, expected):
    found = seeded_difference(20_000, difference)
    assert found.low <= difference <= found.high
    assert equivalence.reading(found, MARGIN) == expected


def test_a_tiny_test_set_is_inconclusive():
    found = seeded_difference(40, 0.0, discordant=0.1)
    assert found.low < -MARGIN and found.high > MARGIN
    assert equivalence.reading(found, MARGIN) == "inconclusive"


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (0.002, 0.008, "equivalent"),  # a real difference, smaller than what matters
        (-0.009, 0.009, "equivalent"),
        (0.004, 0.03, "better"),
        (-0.03, -0.004, "worse"),
        (-0.02, 0.005, "inconclusive"),
        (-0.01, 0.005, "inconclusive"),  # touching the margin is not within it
    ],
)
def test_the_reading_rule(low, high, expected):
    found = equivalence.Difference((low + high) / 2, low, high, 3, 1000)
    assert equivalence.reading(found, MARGIN) == expected


def test_one_seed_covers_the_examples_only_and_is_still_read():
    found = seeded_difference(20_000, 0.05, seeds=1)
    assert found.seeds == 1 and equivalence.reading(found, MARGIN) == "better"


# Contract runs: single-label, 200 test examples, 3 labels.
N = 200
GOLD = [i % 3 for i in range(N)]


def answers(right: int) -> list[int]:
    return [g if i < right else (g + 1) % 3 for i, g in enumerate(GOLD)]


def with_history(folder, scores: list[float]) -> None:
    """Give a run a per-epoch validation history ending at its own validation score."""
    path = folder / "metrics.json"
    record = json.loads(path.read_text())
    record["validation"]["per_epoch"] = [
        {"epoch": e + 1, "step": 5 * (e + 1), "score": s} for e, s in enumerate(scores)
    ]
    record["validation"]["best_epoch"] = 1 + scores.index(max(scores))
    path.write_text(json.dumps(record))


def add_run(root, method, lr, seed, test_right, validation_right, warnings=()):
    return contract_run(
        root,
        f"{method}-lr{lr}-seed{seed}",
        "single_label",
        "accuracy",
        GOLD,
        answers(test_right),
        method=method,
        lr=lr,
        seed=seed,
        validation=(GOLD[:60], answers(validation_right)[:60]),
        warnings=warnings,
    )


def methods_flagged(root) -> dict[str, list[undertuned.Flag]]:
    """Every method with signs of too little search, ranked anyway for leading or not."""
    (chosen,) = comparing.compare([root]).selections
    return {**chosen.undertuned, **chosen.may_improve}


def test_a_choice_at_the_edge_of_three_values_is_flagged_and_one_inside_is_not(tmp_path):
    for lr, right in ((1e-4, 30), (3e-4, 40), (1e-3, 50)):
        add_run(tmp_path / "edge", "lora", lr, 1, 150, right)
    for lr, right in ((1e-4, 30), (3e-4, 50), (1e-3, 40)):
        add_run(tmp_path / "inside", "lora", lr, 1, 150, right)
    (flag,) = methods_flagged(tmp_path / "edge")["lora"]
    assert flag.sign == "at the edge" and "train.lr=1e-3 is the highest" in flag.found
    assert "above 1e-3" in flag.advice
    assert methods_flagged(tmp_path / "inside") == {}


def test_two_values_tried_are_not_called_an_edge(tmp_path):
    for lr, right in ((1e-4, 30), (1e-3, 50)):
        add_run(tmp_path, "lora", lr, 1, 150, right)
    assert methods_flagged(tmp_path) == {}


def test_a_method_whose_every_configuration_predicts_one_class_is_flagged(tmp_path):
    one_class = ("warning: the model predicts 'sports' for 100% of the eval examples",)
    for lr in (1e-5, 5e-5):
        add_run(tmp_path, "full", lr, 1, 67, 20, warnings=one_class)
    add_run(tmp_path, "lora", 1e-4, 1, 150, 45)
    flagged = methods_flagged(tmp_path)
    assert list(flagged) == ["full"] and flagged["full"][0].sign == "degenerate"
    assert "one class" in flagged["full"][0].found


def test_a_degenerate_baseline_is_advised_on_its_regularisation_not_a_learning_rate(tmp_path):
    one_class = ("warning: the model predicts 'sports' for 100% of the eval examples",)
    add_run(tmp_path, "tfidf", 1e-5, 1, 67, 20, warnings=one_class)
    add_run(tmp_path, "lora", 1e-4, 1, 150, 45)
    (flag,) = methods_flagged(tmp_path)["tfidf"]
    assert "method.C_grid" in flag.advice and "learning rate" not in flag.advice


def test_one_sound_configuration_keeps_a_method_from_being_degenerate(tmp_path):
    one_class = ("warning: the model predicts 'sports' for 100% of the eval examples",)
    add_run(tmp_path, "full", 1e-5, 1, 67, 20, warnings=one_class)
    add_run(tmp_path, "full", 5e-5, 1, 150, 45)
    assert methods_flagged(tmp_path) == {}


def test_validation_still_rising_at_the_last_epoch_is_flagged(tmp_path):
    with_history(add_run(tmp_path / "rising", "lora", 1e-4, 1, 150, 45), [0.5, 0.6, 0.75])
    with_history(add_run(tmp_path / "peaked", "lora", 1e-4, 1, 150, 45), [0.5, 0.75, 0.7])
    # Best at the last epoch but up by less than the margin (0.01 for accuracy): a plateau.
    with_history(add_run(tmp_path / "plateau", "lora", 1e-4, 1, 150, 45), [0.5, 0.745, 0.75])
    (flag,) = methods_flagged(tmp_path / "rising")["lora"]
    assert flag.sign == "still improving" and "more epochs" in flag.advice
    assert methods_flagged(tmp_path / "peaked") == {}
    assert methods_flagged(tmp_path / "plateau") == {}
    (chosen,) = comparing.compare([tmp_path / "plateau"], margin=0.004).selections
    assert [flag.sign for flag in chosen.may_improve["lora"]] == ["still improving"]  # the only method


def test_a_flagged_method_is_kept_out_of_the_ranking_and_the_tests(tmp_path):
    # full is best on test, rising at its last epoch and behind lora on validation: not tuned enough.
    for seed in (1, 2):
        with_history(add_run(tmp_path, "full", 1e-5, seed, 190, 43), [0.5, 0.6, 0.72])
        add_run(tmp_path, "lora", 1e-4, seed, 150, 45)
        add_run(tmp_path, "linear", 1e-3, seed, 120, 40)
    result = comparing.compare([tmp_path])
    (found,) = result.verdicts
    assert found.best == "lora"
    assert {m.method: m.reading for m in found.methods} == {
        "lora": "best",
        "linear": "worse",
        "full": "not tuned enough",
    }
    assert [(t["a"], t["b"]) for t in result.selected_tests] == [("lora", "linear")]
    assert {r["vs_best"] for r in result.rows if r["method"] == "full"} == {"not tuned enough"}
    assert next(r for r in result.rows if r["vs_best"] == "best")["method"] == "lora"
    text = verdict_text.markdown(result.verdicts)
    assert "full (as recipe) is not tuned enough" in text and "not ranked" in text
    assert "Recommendation: lora" in text
    assert "Not ranked, as not tuned enough: full." in verdict_text.recommendation(found)


def test_a_flagged_method_that_leads_on_validation_is_ranked_with_its_flags_as_a_note(tmp_path):
    # full and ia3 are still rising; full leads every method on validation, ia3 trails lora.
    for seed in (1, 2):
        with_history(add_run(tmp_path, "full", 1e-5, seed, 190, 58), [0.5, 0.7, 0.97])
        with_history(add_run(tmp_path, "ia3", 1e-3, seed, 140, 40), [0.4, 0.5, 0.67])
        add_run(tmp_path, "lora", 1e-4, seed, 150, 45)
    result = comparing.compare([tmp_path])
    (found,) = result.verdicts
    readings = {m.method: m.reading for m in found.methods}
    assert found.best == "full" and readings["full"] == "best" and readings["ia3"] == "not tuned enough"
    assert readings["lora"] == "worse"
    (chosen,) = result.selections
    assert list(chosen.may_improve) == ["full"] and list(chosen.undertuned) == ["ia3"]
    text = verdict_text.markdown(result.verdicts)
    assert "full (as recipe) is best on validation" in text and "it leads already" in text
    assert "Not ranked, as not tuned enough: ia3." in text


def test_a_collapsed_method_is_never_ranked_for_leading(tmp_path):
    one_class = ("warning: the model predicts 'sports' for 100% of the eval examples",)
    for seed in (1, 2):
        add_run(tmp_path, "full", 1e-5, seed, 67, 59, warnings=one_class)
        add_run(tmp_path, "lora", 1e-4, seed, 150, 45)
    result = comparing.compare([tmp_path])
    assert result.verdicts[0].best == "lora" and list(result.selections[0].undertuned) == ["full"]


def test_the_report_starts_with_the_verdict_and_draws_the_pareto_front(tmp_path):
    for seed in (1, 2):
        add_run(tmp_path / "runs", "lora", 1e-4, seed, 150, 45)
        add_run(tmp_path / "runs", "linear", 1e-3, seed, 150, 44)
    written = write_report(comparing.compare([tmp_path / "runs"]), tmp_path / "report")
    report = written[0].read_text()
    assert report.startswith("# ftrun comparison\n\n## The verdict\n\n**Recommendation:")
    assert "Margin: 0.01 accuracy (the default for accuracy, a proportion: one point)" in report
    assert written[1].name == "pareto.png" and written[1].stat().st_size > 1000


def test_the_cli_margin_sets_the_verdict_and_a_bad_one_is_one_line(tmp_path, monkeypatch, capsys):
    for seed in (1, 2):
        add_run(tmp_path, "lora", 1e-4, seed, 150, 45)
        add_run(tmp_path, "linear", 1e-3, seed, 148, 44)
    assert comparing.compare([tmp_path], margin=0.2).verdicts[0].margin_source == "set by --margin"
    for bad, says in (("-0.1", "0 or more"), ("1.5", "a proportion")):
        code, out, err = ftrun_in_process(monkeypatch, capsys, "compare", str(tmp_path), "--margin", bad)
        assert code == 2 and out == ""
        assert len(err.strip().splitlines()) == 1 and says in err


def test_the_recipes_compare_margin_is_used_and_checked(tmp_path, monkeypatch, capsys):
    for seed in (1, 2):
        for folder in (
            add_run(tmp_path, "lora", 1e-4, seed, 150, 45),
            add_run(tmp_path, "linear", 1e-3, seed, 148, 44),
        ):
            recipe = folder / "recipe.toml"
            recipe.write_text(recipe.read_text() + "[compare]\nmargin = 0.05\n")
    (found,) = comparing.compare([tmp_path]).verdicts
    assert found.margin == 0.05 and "compare.margin" in found.margin_source
    bad = tmp_path / "bad.toml"
    bad.write_text("[compare]\nmargin = 1.5\n")
    code, _, err = ftrun_in_process(monkeypatch, capsys, "validate", str(bad))
    assert code == 2 and "compare.margin = 1.5 does not fit accuracy" in err


def cost(name: str, score: float, seconds: float, stored: float) -> MethodVerdict:
    return MethodVerdict(
        name, "", 1, None, score, "best", costs={"train_seconds": seconds, "stored_mb": stored}
    )


def test_pareto_dominance_on_a_hand_made_set():
    methods = [
        cost("full", 0.90, 100.0, 500.0),  # best score: on the front
        cost("lora", 0.89, 60.0, 5.0),  # cheaper: on the front
        cost("ia3", 0.88, 80.0, 6.0),  # lora scores more at less of both: dominated
        cost("linear", 0.80, 10.0, 500.0),  # fastest: on the front
        cost("twin", 0.80, 10.0, 500.0),  # equal to linear on everything: neither dominates
    ]
    verdict.mark_dominated(methods)
    assert {m.method for m in methods if m.dominated} == {"ia3"}


def test_the_recommendation_is_the_cheapest_method_equivalent_to_the_best():
    best = cost("full", 0.90, 100.0, 500.0)
    lora = cost("lora", 0.899, 60.0, 5.0)
    lora.reading = "equivalent"
    linear = cost("linear", 0.80, 10.0, 500.0)
    linear.reading = "worse"
    found = verdict.Verdict(1, "accuracy", MARGIN, "", [best, lora, linear], "full")
    assert verdict.recommended(found) == "lora"
    lora.reading = "inconclusive"
    found.recommended = verdict.recommended(found)
    assert found.recommended == "full"
    assert "cannot yet be told from it" in verdict_text.recommendation(found)
