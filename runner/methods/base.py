"""What a fine-tuning method decides: what trains, how texts are encoded, what is saved.

Method modules import torch, transformers and peft only inside their hooks, so that reading a
method's options (the recipe loader does, for `ftrun validate`) stays instant.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.recipe.schema import NoOptions

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from runner.data.examples import Examples
    from runner.model.classifier import Classifier, ModelSource
    from runner.recipe.schema import Recipe
    from runner.tokens.id_cache import TokenIdCache
    from runner.tokens.ids import TokenIds


class Method:
    name = "base"
    # The dataclass of this method's own recipe keys (`method.lora_r`...), checked by the schema.
    options: type = NoOptions
    # A frozen base never changes, so its features are computed once and only the head trains.
    frozen_base = False
    # False for a method whose classifier is complete once prepared (zero-shot): the run fits nothing,
    # skips the train split's features, and goes straight to scoring.
    trains = True
    # True for a baseline fitted outside the torch loop (scikit-learn): the pipeline calls its `fit` and
    # scores the model it returns; no classifier, tokenizer or token ids (`runner.methods.fitted`).
    fits_outside_torch = False
    # Whether serving merges trained parts into the base (latency is then timed both ways).
    merges_for_serving = False
    # Defaults of other recipe keys for this method, where the schema's suit it badly (measured in the
    # per-method defaults table, docs/guides/methods.md): {"train": {"lr": 5e-4}}. A recipe's own value wins.
    defaults: dict[str, dict[str, Any]] = {}

    def own_options(self, recipe: Recipe) -> Any:
        """This method's options from the recipe; its defaults where the recipe names another method."""
        options = recipe.method.options
        return options if isinstance(options, self.options) else self.options()

    def check_model(self, recipe: Recipe, source: ModelSource) -> None:
        """Mistakes that the model's architecture reveals, found before any weights or data load."""

    def load_backbone(self, recipe: Recipe, source: ModelSource, pad_token_id: int | None) -> Any:
        """The base model as this method trains it (a method may load it quantised, or another class)."""
        from runner.model.classifier import load_backbone

        return load_backbone(source, recipe.model.dtype, pad_token_id)

    def prepare(self, classifier: Classifier, recipe: Recipe) -> Classifier:
        """Freeze or wrap parts of the classifier before training."""
        return classifier

    def prompt(
        self, recipe: Recipe, tokenizer: PreTrainedTokenizerBase, train_examples: Examples
    ) -> dict[str, str] | None:
        """The text put before and after each input (None: texts are used as they are)."""
        return None

    def encode(
        self,
        texts: Sequence[str] | Sequence[tuple[str, str]],
        tokenizer: PreTrainedTokenizerBase,
        recipe: Recipe,
        prompt: dict[str, str] | None,
        advance: Callable[[int], object] | None = None,
        cache: TokenIdCache | None = None,
    ) -> TokenIds:
        """Token ids per text, truncated to `model.max_length`; `advance(n)` after each n texts.

        With a cache, ids another run wrote for the same texts, tokenizer and encoding are mapped from
        disk; new ones are written there as they come, so the whole array never sits in memory.
        """
        from runner.tokens.id_cache import texts_fingerprint, token_key, tokenizer_fingerprint
        from runner.tokens.ids import encode_in_batches, encode_to_file

        encoder = self.batch_encoder(tokenizer, recipe, prompt)
        if cache is None:
            return encode_in_batches(texts, encoder, advance=advance)
        encoding = self.encoding(recipe, prompt)
        key = token_key(tokenizer_fingerprint(tokenizer), encoding, texts_fingerprint(texts))
        with cache.writing(key):  # runs of a parallel sweep that need these ids tokenise them once
            found = cache.get(key)
            if found is not None:
                if advance is not None:
                    advance(len(texts))
                return found
            meta = {"tokenizer": getattr(tokenizer, "name_or_path", ""), "encoding": encoding}
            return cache.put(key, lambda file: encode_to_file(texts, encoder, file, advance=advance), meta)

    def encoding(self, recipe: Recipe, prompt: dict[str, str] | None) -> dict[str, Any]:
        """What the token ids depend on besides the tokenizer and the texts (the token id cache's key):
        the class whose `batch_encoder` runs (full, lora and linear share one), the length, the prompt."""
        encoder = next(c for c in type(self).__mro__ if "batch_encoder" in vars(c))
        found = {"encoder": encoder.__qualname__, "max_length": recipe.model.max_length, "prompt": prompt}
        data = recipe.data
        if data.truncation != "head":  # keys of head-cut single texts stay as they were
            found |= {"truncation": data.truncation, "head_share": data.head_share}
        if data.text_pair_column:
            found["pair_separator"] = data.pair_separator
        return found

    def batch_encoder(
        self, tokenizer: PreTrainedTokenizerBase, recipe: Recipe, prompt: dict[str, str] | None
    ) -> Callable[[list[Any]], Any]:
        """How one batch of texts (or text pairs) becomes token ids (`encode` feeds it a batch at a time)."""
        from runner.tokens.encoding import batch_encoder

        return batch_encoder(tokenizer, recipe.model.max_length, recipe.data)

    def save(
        self,
        classifier: Classifier,
        tokenizer: PreTrainedTokenizerBase,
        folder: Path,
        head_description: dict[str, Any],
    ) -> None:
        """Write the whole classifier (a frozen base too) as a standard Hugging Face model folder."""
        from runner.model import hf_folder

        config = hf_folder.ftrun_config(head_description, classifier.backbone.config)
        hf_folder.save_model_folder(folder, classifier.backbone, classifier.head, tokenizer, config)

    def load_saved(self, folder: Path) -> Any:
        """The `FtrunForSequenceClassification` a run's `model/` folder holds (ftrun predict and eval)."""
        from runner.model.modeling_ftrun import FtrunForSequenceClassification

        return FtrunForSequenceClassification.from_pretrained(folder)

    def for_inference(self, classifier: Classifier) -> Classifier:
        """The fastest equivalent model for serving (LoRA merges its adapters)."""
        return classifier


def freeze(module: Any) -> None:
    for parameter in module.parameters():
        parameter.requires_grad_(False)
