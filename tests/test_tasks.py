"""Every task type end to end on a tiny model: sentence pairs, multi-label, regression.

One run per task and method, trained once for the module; each is checked for what its task
records, and its saved folder is loaded by plain transformers (no ftrun) and its pipeline, which must
give the predictions the run saved.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from runner import rundir
from runner.pipeline import run_recipe
from runner.recipe.spelling import compact_number

from .conftest import ftrun_in_process
from .task_data import MULTI_LABELS, TASK_DATA, write_task_data
from .test_run import tiny_recipe

METHODS = ["full", "lora", "ia3", "linear", "prompt-linear"]
TEMPLATES = {
    "pairs": "First: {text}\nSecond: {text_pair}\nSame?",
    "multi_label": "Review: {text}\nTopics:",
    "regression": "Review: {text}\nScore:",
}

# A fresh interpreter that never imports ftrun: what a user with only transformers has.
PLAIN_PIPELINE = r"""
import json, sys
from transformers import pipeline

jobs = json.loads(sys.argv[1])
result = {}
for run, inputs in jobs.items():
    classify = pipeline("text-classification", model=f"{run}/model", trust_remote_code=True, top_k=None)
    config = classify.model.config
    scores = classify(inputs, batch_size=4, truncation=True)
    names = [config.id2label[i] for i in range(len(config.id2label))]
    result[run] = [[{s["label"]: s["score"] for s in row}[name] for name in names] for row in scores]
    if config.method in ("lora", "ia3"):  # the peft adapter over its saved base gives the same outputs
        import torch
        from peft import AutoPeftModelForSequenceClassification
        from transformers import AutoTokenizer

        adapter = f"{run}/model/adapter"
        model = AutoPeftModelForSequenceClassification.from_pretrained(adapter, trust_remote_code=True).eval()
        tokenizer = AutoTokenizer.from_pretrained(adapter, trust_remote_code=True)
        if isinstance(inputs[0], dict):
            pairs = [i["text"] for i in inputs], [i["text_pair"] for i in inputs]
            batch = tokenizer(*pairs, padding=True, truncation=True, return_tensors="pt")
        else:
            batch = tokenizer(inputs, padding=True, truncation=True, return_tensors="pt")
        with torch.no_grad():
            logits = model(**batch).logits
        kind = config.problem_type
        out = logits.softmax(-1) if kind == "single_label_classification" else logits
        out = out.sigmoid() if kind == "multi_label_classification" else out
        result[run + " adapter"] = out.tolist()
assert not any(name == "runner" or name.startswith("runner.") for name in sys.modules), "ftrun was imported"
print(json.dumps(result))
"""


@pytest.fixture(scope="module")
def task_runs(tmp_path_factory, tiny_bert) -> dict[tuple[str, str], Path]:
    root = tmp_path_factory.mktemp("tasks")
    folders = {}
    for task, (rows_for, data) in TASK_DATA.items():
        source = write_task_data(root / f"data-{task}", rows_for)
        for method in METHODS:
            options = {"prompt_template": TEMPLATES[task]} if method == "prompt-linear" else {}
            recipe = tiny_recipe(
                tiny_bert,
                source,
                root / "outputs",
                method,
                data={**data, "validation_size": 12},
                method=options,
                output={"run_name": f"{task}-{method}"},
            )
            recipe.model.max_length = 120  # room for every text: a pipeline cuts the end, ftrun the text
            folders[(task, method)] = run_recipe(recipe, Path(f"{task}-{method}.toml"))
    return folders


def test_each_task_records_its_own_metrics_and_predictions(task_runs):
    for (task, method), folder in task_runs.items():
        metrics = json.loads((folder / "metrics.json").read_text())
        rows = rundir.read_jsonl(folder / "predictions.jsonl")
        validation_rows = rundir.read_jsonl(folder / "validation_predictions.jsonl")
        assert len(rows) == 24 and len(validation_rows) == 12, (task, method)
        low, high = metrics["score_ci95"]
        assert low <= metrics["score"] <= high, (task, method)
        assert metrics["validation"]["metric"] == metrics["metric"]
        if task == "pairs":
            assert metrics["task"] == "single_label" and metrics["metric"] == "accuracy"
            assert {"balanced_accuracy", "mcc", "per_class"} <= metrics.keys()
            assert metrics["score"] == metrics["accuracy"]
        elif task == "multi_label":
            assert metrics["metric"] == "macro_f1" and len(metrics["thresholds"]) == 3
            assert metrics["thresholds_set_by"] == "tuned per label on the validation split"
            assert {"micro_f1", "subset_accuracy", "hamming_loss", "per_label"} <= metrics.keys()
            assert all(set(r["predicted_labels"]) <= set(MULTI_LABELS) for r in rows)
            assert all(len(r["probabilities"]) == 3 for r in rows)
            # A row's labels are those at or above their thresholds.
            for row in rows:
                over = [i for i, p in enumerate(row["probabilities"]) if p >= metrics["thresholds"][i]]
                assert row["predicted"] == over
        else:
            assert metrics["metric"] == "pearson" and {"spearman", "rmse", "mae"} <= metrics.keys()
            assert all(isinstance(r["predicted"], float) for r in rows)
            # Standardised for training, the outputs come back on the targets' scale (0 to 5 here).
            assert 0.5 < np.mean([r["predicted"] for r in rows]) < 4.5, (method, rows[:3])


def plain_inputs(task: str, folder: Path) -> list:
    """The eval inputs as a pipeline user gives them: pairs as text/text_pair, prompts wrapped."""
    recipe_data = json.loads((folder / "metrics.json").read_text())["data"]
    texts = [
        json.loads(line) for line in (Path(recipe_data["source"]) / "test.jsonl").read_text().splitlines()
    ]
    config = json.loads((folder / "model" / "config.json").read_text())
    prompt = config.get("prompt")
    if task == "pairs":
        if prompt:
            return [
                prompt["before"] + r["first"] + prompt["between"] + r["second"] + prompt["after"]
                for r in texts
            ]
        return [{"text": r["first"], "text_pair": r["second"]} for r in texts]
    if prompt:
        return [prompt["before"] + r["text"] + prompt["after"] for r in texts]
    return [r["text"] for r in texts]


def test_plain_transformers_pipeline_gives_each_runs_saved_predictions(task_runs):
    jobs = {str(folder): plain_inputs(task, folder) for (task, _), folder in task_runs.items()}
    root = next(iter(task_runs.values())).parent
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {
        "HF_HUB_OFFLINE": "1",
        "HF_MODULES_CACHE": str(root / ".hf-modules"),
    }
    done = subprocess.run(
        [sys.executable, "-c", PLAIN_PIPELINE, json.dumps(jobs)],
        capture_output=True,
        text=True,
        env=env,
        cwd=root,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = json.loads(done.stdout.splitlines()[-1])
    for (task, method), folder in task_runs.items():
        rows = sorted(rundir.read_jsonl(folder / "predictions.jsonl"), key=lambda row: row["id"])
        if task == "regression":
            saved = [[row["predicted"]] for row in rows]
        else:
            saved = [row["probabilities"] for row in rows]
        np.testing.assert_allclose(
            loaded[str(folder)], saved, atol=1e-4, rtol=1e-4, err_msg=f"{task} {method}"
        )
        if method in ("lora", "ia3"):
            adapter = loaded[f"{folder} adapter"]
            np.testing.assert_allclose(
                adapter, saved, atol=1e-4, rtol=1e-4, err_msg=f"{task} {method} adapter"
            )
    assert sum(key.endswith(" adapter") for key in loaded) == 2 * len(TASK_DATA)


def test_compare_ranks_each_task_by_its_own_metric_and_never_across_tasks(task_runs):
    from runner.compare.comparison import compare

    result = compare([next(iter(task_runs.values())).parent])
    by_group: dict[int, set] = {}
    for row in result.rows:
        by_group.setdefault(row["group"], set()).add((row["task"], row["metric"]))
    assert sorted(pair for pairs in by_group.values() for pair in pairs) == [
        ("multi_label", "macro_f1"),
        ("regression", "pearson"),
        ("single_label", "accuracy"),
    ]
    assert all(len(pairs) == 1 for pairs in by_group.values())
    assert {s.metric for s in result.selections} == {"accuracy", "macro_f1", "pearson"}
    assert all(len(s.selected) == len(METHODS) for s in result.selections)


def test_predict_prints_each_tasks_scores(task_runs, monkeypatch, capsys):
    pairs = task_runs[("pairs", "full")]
    code, out, err = ftrun_in_process(
        monkeypatch,
        capsys,
        "predict",
        str(pairs),
        "great fun",
        "awful mess",
        "--pair",
        "loved it",
        "--pair",
        "superb",
        "--json",
    )
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["text_pair"] for line in lines] == ["loved it", "superb"]
    assert all(abs(sum(line["probabilities"].values()) - 1) < 1e-5 for line in lines)
    code, out, err = ftrun_in_process(monkeypatch, capsys, "predict", str(pairs), "only one text")
    assert code == 2 and "sentence pairs" in err and "Traceback" not in err

    multi = task_runs[("multi_label", "lora")]
    thresholds = json.loads((multi / "metrics.json").read_text())["thresholds"]
    code, out, err = ftrun_in_process(
        monkeypatch, capsys, "predict", str(multi), "great plot, awful actors", "--json"
    )
    assert code == 0, err
    (line,) = [json.loads(x) for x in out.splitlines()]
    assert list(line["probabilities"]) == MULTI_LABELS
    expected = [n for n, t in zip(MULTI_LABELS, thresholds, strict=True) if line["probabilities"][n] >= t]
    assert line["labels"] == expected

    regression = task_runs[("regression", "full")]
    code, out, err = ftrun_in_process(
        monkeypatch, capsys, "predict", str(regression), "great great fun", "--json"
    )
    assert code == 0, err
    assert isinstance(json.loads(out)["value"], float)
    code, out, err = ftrun_in_process(monkeypatch, capsys, "predict", str(regression), "great great fun")
    assert code == 0 and "score" in out


def test_ftrun_eval_rescores_each_task_to_the_runs_own_scores(task_runs, tmp_path, monkeypatch, capsys):
    for task in TASK_DATA:
        folder = task_runs[(task, "lora")]
        original = json.loads((folder / "metrics.json").read_text())
        source = original["data"]["source"]
        code, out, err = ftrun_in_process(
            monkeypatch,
            capsys,
            "eval",
            str(folder),
            "--data",
            source,
            "--split",
            "test",
            "--out-dir",
            str(tmp_path),
        )
        assert code == 0, err
        rescored = json.loads(
            (tmp_path / f"{folder.name}-on-{Path(source).name}" / "metrics.json").read_text()
        )
        assert rescored["task"] == original["task"] and rescored["metric"] == original["metric"]
        assert rescored["score"] == pytest.approx(original["score"], abs=1e-6), task


def test_a_sweep_selects_each_method_on_its_tasks_validation_metric(tiny_bert, tmp_path, monkeypatch, capsys):
    """A regression over sentence pairs swept over learning rates: the report chooses on validation
    Pearson, the configuration with the best mean over seeds."""
    rows_for, _ = TASK_DATA["regression"]
    source = write_task_data(tmp_path / "data", rows_for)
    for name in ("train.jsonl", "test.jsonl"):  # the same texts, twice over: a pair of each
        path = source / name
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        path.write_text("".join(json.dumps({**r, "pair": r["text"][::-1]}) + "\n" for r in rows))
    recipe = tmp_path / "sweep.toml"
    recipe.write_text(
        f"""
[model]
name = "{tiny_bert}"
max_length = 48
[data]
source = "{source}"
task = "regression"
label_column = "score"
text_pair_column = "pair"
validation_size = 12
[method]
name = "full"
head_hidden = 16
[train]
epochs = 2
batch_size = 8
precision = "fp32"
[eval]
latency_examples = 0
[output]
dir = "{tmp_path / "outputs"}"
[sweep]
"train.lr" = [1e-5, 3e-3]
"train.seed" = [1, 2]
"""
    )
    code, _, err = ftrun_in_process(monkeypatch, capsys, str(recipe))
    assert code == 0, err
    sweep = tmp_path / "outputs" / "sweep"
    by_lr: dict[float, list[float]] = {}
    for folder in sweep.iterdir():
        if (folder / "metrics.json").is_file():
            metrics = json.loads((folder / "metrics.json").read_text())
            assert metrics["metric"] == "pearson" and metrics["validation"]["metric"] == "pearson"
            lr = float((folder / "recipe.toml").read_text().split("\nlr = ")[1].split("\n")[0])
            by_lr.setdefault(lr, []).append(metrics["validation"]["score"])
    assert sorted(by_lr) == [1e-5, 3e-3] and all(len(v) == 2 for v in by_lr.values())
    best = max(by_lr, key=lambda lr: np.mean(by_lr[lr]))
    report = (sweep / "report" / "report.md").read_text()
    selected = next(line for line in report.splitlines() if line.startswith("| full |"))
    assert f"train.lr={compact_number(best)}" in selected, selected
    assert "pearson" in report
