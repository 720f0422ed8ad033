"""Reload a run's saved model folder (the standard Hugging Face folder `hf_model.py` writes).

ftrun imports the model class itself, so it needs no `trust_remote_code`; a user without ftrun loads
the same folder with `AutoModelForSequenceClassification` (see docs/guides/using-a-run.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from runner import registry
from runner.errors import RunFolderError
from runner.model.classifier import Classifier
from runner.model.modeling_ftrun import FtrunConfig
from runner.recipe.schema import DataSection, MethodSection, ModelSection, Recipe
from runner.tokens.ids import TokenIds

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


@dataclass
class SavedModel:
    classifier: Classifier
    tokenizer: PreTrainedTokenizerBase
    config: FtrunConfig  # labels, prompt, max_tokens, method, base model
    # A baseline fitted outside torch (`Method.fits_outside_torch`): `logits(inputs)`, and no classifier
    # or tokenizer (those two are then None).
    fitted: Any = None

    @property
    def labels(self) -> list[str]:
        names = cast(dict[int, str], self.config.id2label)  # transformers types it loosely
        return [names[i] for i in range(len(names))]

    @property
    def task(self) -> str:
        """`data.task` as config.json records it; in a folder written before it did, the first task of
        the config's `problem_type`."""
        recorded = getattr(self.config, "task", None)
        if recorded:
            return str(recorded)
        same = [
            name for name in registry.TASKS if registry.task(name).problem_type == self.config.problem_type
        ]
        return same[0] if same else registry.DEFAULT_TASK

    @property
    def task_type(self) -> Any:
        """The task (a `runner.tasks.base.Task`): what the outputs are and how they are shown."""
        return registry.task(self.task)

    @property
    def pairs(self) -> bool:
        """Whether the model was trained on sentence pairs (and so wants (text, text_pair) inputs)."""
        return bool((getattr(self.config, "encoding", None) or {}).get("pairs"))

    def encode(self, texts: Sequence[str] | Sequence[tuple[str, str]]) -> TokenIds:
        """Token ids as the run encoded its eval texts: the method's truncation, around the saved prompt."""
        encoding = getattr(self.config, "encoding", None) or {}
        data = DataSection(
            truncation=encoding.get("truncation", "head"),
            head_share=encoding.get("head_share", 0.25),
            text_pair_column="text_pair" if encoding.get("pairs") else "",
            pair_separator=encoding.get("pair_separator", "\n\n"),
        )
        recipe = Recipe(
            model=ModelSection(max_length=self.config.max_tokens),
            data=data,
            method=MethodSection(name=self.config.method),
        )
        return registry.method(self.config.method).encode(texts, self.tokenizer, recipe, self.config.prompt)

    @property
    def segment_token(self) -> int | None:
        """The separator after which tokens have type 1 (pairs on a model with token types)."""
        return self.tokenizer.sep_token_id if getattr(self.config, "token_types", False) else None


def finished_run(run_dir: Path) -> Path:
    """A finished run folder with a saved model, or a one-line RunFolderError saying what it is not."""
    if not run_dir.is_dir():
        raise RunFolderError(f"{run_dir}: no such folder")
    if not (run_dir / "recipe.toml").is_file() and not (run_dir / "metrics.json").is_file():
        raise RunFolderError(f"{run_dir}: not a run folder (no recipe.toml or metrics.json)")
    if not (run_dir / "metrics.json").is_file():
        raise RunFolderError(f"{run_dir}: the run has not finished (no metrics.json); ftrun resume {run_dir}")
    if not (run_dir / "model" / "config.json").is_file():
        raise RunFolderError(f"{run_dir}: the run saved no model (output.save_model = false, or an eval run)")
    return run_dir


def load_saved_model(model_dir: str | Path) -> SavedModel:
    """The classifier (eval mode), tokenizer and config saved in a run's `model/` folder."""
    from transformers import AutoTokenizer

    folder = Path(model_dir)
    if not (folder / "config.json").is_file():
        raise RunFolderError(f"{folder}: no saved model (config.json); was output.save_model off?")
    config = FtrunConfig.from_pretrained(folder)
    method = registry.method(config.method)
    if method.fits_outside_torch:  # its own saved form (runner.methods.fitted), not a transformers folder
        return SavedModel(None, None, config, fitted=method.load_fitted(folder))  # type: ignore[arg-type]
    # The method loads it: a folder may hold an adapter to put over a quantised base, not weights.
    model = method.load_saved(folder)
    # The config is given so the tokenizer does not load config.json again (its auto_map asks for
    # trust_remote_code).
    tokenizer = AutoTokenizer.from_pretrained(folder, config=model.config)
    classifier = Classifier(model.backbone, model.head, model.config.pooling, model.soft_prompt).eval()
    return SavedModel(classifier, tokenizer, cast("FtrunConfig", model.config))


def torch_model(saved: SavedModel, command: str) -> SavedModel:
    """`saved`, or a one-line RunFolderError where its method fitted no torch model (a baseline)."""
    if saved.fitted is not None:
        raise RunFolderError(
            f"ftrun {command}: a {saved.config.method} run holds a scikit-learn model, not a torch one; "
            "use ftrun predict or ftrun eval with it"
        )
    return saved


def load_saved(model_dir: str | Path) -> tuple[Classifier, Any]:
    """The classifier and tokenizer saved in a run's `model/` folder, in eval mode."""
    saved = load_saved_model(model_dir)
    return saved.classifier, saved.tokenizer
