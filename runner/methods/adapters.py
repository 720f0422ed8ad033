"""What every peft adapter method shares: wrap the backbone, save the adapter, merge for serving.

A new peft adapter method (DoRA, LoHa...) subclasses `PeftMethod` with its options and config; prompt
tuning adds no layers to merge, so it is a plain `Method` (`prompt_tuning.py`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.errors import ModelError, first_line
from runner.methods.base import Method

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from runner.model.classifier import Classifier, ModelSource
    from runner.recipe.schema import Recipe


class PeftMethod(Method):
    merges_for_serving = True
    # The recipe key naming the adapted modules, for the error when peft finds none of them.
    target_key = "target_modules"

    def peft_config(self, options: Any) -> Any:
        """The peft config for this method's options (task type FEATURE_EXTRACTION: ftrun owns the head)."""
        raise NotImplementedError

    def check_model(self, recipe: Recipe, source: ModelSource) -> None:
        from runner.model.classifier import module_names

        targets = getattr(self.own_options(recipe), self.target_key)
        if not targets:
            return  # peft's own choice for the architecture
        names = module_names(source)
        missing = [t for t in targets if not any(n == t or n.endswith("." + t) for n in names)]
        if missing:
            leaves = sorted({n.rsplit(".", 1)[-1] for n in names if n})
            raise ModelError(
                f"method.{self.target_key}: {missing} match no module of {recipe.model.name}; "
                f"its modules are named {leaves}"
            )

    def prepare(self, classifier: Classifier, recipe: Recipe) -> Classifier:
        from peft import get_peft_model

        try:
            classifier.backbone = get_peft_model(
                classifier.backbone, self.peft_config(self.own_options(recipe))
            )
        except ValueError as error:
            raise ModelError(
                f"method.{self.target_key}: {first_line(error)}; "
                'name the modules to adapt, e.g. ["q_proj", "v_proj"]'
            ) from None
        return classifier

    def save(
        self,
        classifier: Classifier,
        tokenizer: PreTrainedTokenizerBase,
        folder: Path,
        head_description: dict[str, Any],
    ) -> None:
        """The merged model as the standard folder; the adapter beside it in peft's sequence-classification
        form (`model/adapter/`, over the untrained base saved with the head in `model/adapter/base/`)."""
        import copy

        from runner.model import hf_folder

        adapted = classifier.backbone
        config = hf_folder.ftrun_config(head_description, adapted.config)
        # Copies: the run goes on with the adapted model (latency merges it in place after saving).
        merged = copy.deepcopy(adapted).merge_and_unload()
        hf_folder.save_model_folder(folder, merged, classifier.head, tokenizer, config)
        del merged
        save_sequence_classification_adapter(folder / "adapter", adapted, classifier.head, tokenizer, config)

    def for_inference(self, classifier: Classifier) -> Classifier:
        classifier.backbone = classifier.backbone.merge_and_unload()
        return classifier


def save_sequence_classification_adapter(
    folder: Path, adapted: Any, head: Any, tokenizer: PreTrainedTokenizerBase, config: Any, base: Any = None
) -> None:
    """The trained adapter as peft's SEQ_CLS adapter over `FtrunForSequenceClassification`, head in
    `modules_to_save`, so `AutoPeftModelForSequenceClassification` loads it.

    ftrun trains the adapter on the bare backbone (FEATURE_EXTRACTION), so its weights are re-keyed
    under `backbone.`; the base it names is the original backbone with the head, saved in `base/`
    (`base`: that backbone, where the adapted one cannot give it back, as a quantised one cannot).
    """
    import copy
    import dataclasses

    import torch
    from peft import TaskType, get_peft_model, get_peft_model_state_dict, set_peft_model_state_dict

    from runner import rundir
    from runner.model import hf_folder
    from runner.model.modeling_ftrun import FtrunForSequenceClassification

    if base is None:
        base = copy.deepcopy(adapted).unload()  # the original weights, adapter layers removed unmerged
    hf_folder.save_model_folder(folder / "base", base, head, tokenizer, config)
    # peft records the base as a path; name it where the run folder will end up (a staged
    # --overwrite run moves when it finishes). A moved folder's base is found by hand
    # (docs/guides/using-a-run.md).
    run_folder = folder.parent.parent
    final_base = (rundir.staged_for(run_folder) or run_folder).resolve() / "model" / "adapter" / "base"
    with torch.device("meta"):
        model = FtrunForSequenceClassification(config)
    model.backbone, model.head = base, copy.deepcopy(head)
    peft_config = dataclasses.replace(
        adapted.peft_config["default"],
        task_type=TaskType.SEQ_CLS,
        modules_to_save=["head"],
    )
    sequence_model = get_peft_model(model, peft_config)
    sequence_model.peft_config["default"].base_model_name_or_path = str(final_base)  # peft resets it
    prefix = "base_model.model."
    state = {
        f"{prefix}backbone.{key.removeprefix(prefix)}": value
        for key, value in get_peft_model_state_dict(adapted).items()
    }
    state |= {f"{prefix}head.{key}": value for key, value in head.state_dict().items()}
    loaded: Any = set_peft_model_state_dict(sequence_model, state)
    assert not loaded.unexpected_keys, f"adapter weights with no place: {loaded.unexpected_keys}"
    sequence_model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
