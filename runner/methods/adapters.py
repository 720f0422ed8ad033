"""What every peft adapter method shares: wrap the backbone, save the adapter, merge for serving.

A new peft method (DoRA, prompt tuning...) subclasses `PeftMethod` with its options and config.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runner.errors import ModelError, first_line
from runner.methods.base import Method

if TYPE_CHECKING:
    from runner.model import Classifier
    from runner.schema import Recipe


class PeftMethod(Method):
    # The recipe key naming the adapted modules, for the error when peft finds none of them.
    target_key = "target_modules"

    def peft_config(self, options: Any) -> Any:
        """The peft config for this method's options (task type FEATURE_EXTRACTION: ftrun owns the head)."""
        raise NotImplementedError

    def check_model(self, recipe: Recipe, source: Any) -> None:
        from runner.model import module_names

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

    def for_inference(self, classifier: Classifier) -> Classifier:
        classifier.backbone = classifier.backbone.merge_and_unload()
        return classifier
