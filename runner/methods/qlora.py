"""`qlora`: LoRA over a base quantised to 4 bits by bitsandbytes; the adapters and the head in full precision.

The base's linear layers are loaded as bitsandbytes `Linear4bit` (NF4 with double quantisation by
default), prepared by peft's `prepare_model_for_kbit_training` (every other weight frozen in fp32), and
LoRA trains beside them. The run is evaluated, timed and served as it trained: 4-bit base, adapters apart
(merging LoRA into 4-bit weights would round it to 4 bits again).

Saved: `model/adapter/` (peft, over the original full-precision base in `model/adapter/base/`: load that
base in 4-bit with the recorded quantisation to get the trained model back, or in full precision), and,
with `save_merged`, `model/` itself as the adapters merged into the *dequantised* 4-bit weights, a
full-precision model that computes what the run measured. Without it `model/` holds the config and
tokenizer only, and ftrun loads the adapter over the base in 4-bit.

bitsandbytes is an extra (`pip install 'ftrun[qlora]'`); its CPU 4-bit path works too.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.errors import ModelError, first_line
from runner.methods.adapters import save_sequence_classification_adapter
from runner.methods.base import Method
from runner.methods.lora import Lora, LoraOptions
from runner.recipe.fields import option

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from runner.model.classifier import Classifier, ModelSource
    from runner.recipe.schema import Recipe

INSTALL = "pip install 'ftrun[qlora]'"
# The head is ftrun's own and trains in full precision; it must stay a plain Linear when the saved
# FtrunForSequenceClassification base is loaded in 4-bit.
SKIP_MODULES = ["head"]


@dataclass
class QloraOptions(LoraOptions):
    quant_type: str = option(
        "nf4",
        "4-bit data type of the base's linear weights (`nf4`: QLoRA's NormalFloat).",
        choices=("nf4", "fp4"),
    )
    double_quant: bool = option(True, "Quantise the per-block scales too (QLoRA's double quantisation).")
    compute_dtype: str = option(
        "auto",
        "Dtype the 4-bit layers compute in. `auto`: bfloat16 on a GPU or CPU with fast bf16, else float16 "
        "on a GPU and float32 on a CPU.",
        choices=("auto", "bfloat16", "float16", "float32"),
    )
    save_merged: bool = option(
        True,
        "Also save the adapters merged into the dequantised 4-bit base as a full-precision model in "
        "`model/` (false: only the adapter; ftrun loads it over the base in 4-bit).",
    )


def compute_dtype_name(requested: str) -> str:
    """The compute dtype `auto` stands for on this machine (bf16 halves bnb's CPU step time, measured)."""
    import torch

    from runner.model.precision import cpu_has_native_bf16

    if requested != "auto":
        return requested
    if torch.cuda.is_available():
        return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    return "bfloat16" if cpu_has_native_bf16() else "float32"


def quantization_record(options: QloraOptions) -> dict[str, Any]:
    """How the base was quantised, as BitsAndBytesConfig's arguments (recorded in config.json)."""
    return {
        "load_in_4bit": True,
        "bnb_4bit_quant_type": options.quant_type,
        "bnb_4bit_use_double_quant": options.double_quant,
        "bnb_4bit_compute_dtype": compute_dtype_name(options.compute_dtype),
        "llm_int8_skip_modules": SKIP_MODULES,
    }


def bnb_config(record: dict[str, Any]) -> Any:
    import torch
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        **record | {"bnb_4bit_compute_dtype": getattr(torch, record["bnb_4bit_compute_dtype"])}
    )


def require_bitsandbytes() -> None:
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise ModelError(f"method.name = qlora needs bitsandbytes, an extra: {INSTALL}") from None


def linear_4bit_layers(model: Any) -> list[tuple[str, Any]]:
    import bitsandbytes as bnb

    return [(name, m) for name, m in model.named_modules() if isinstance(m, bnb.nn.Linear4bit)]


def keep_one_cpu_path(model: Any) -> None:
    """Stop bitsandbytes repacking 4-bit weights for its CPU inference kernel on the first no-grad pass.

    On CPUs with avx512_bf16 that repacking (bnb 0.50) happens in place at the first evaluation: it rounds
    the block scales to bf16, fails on layers narrower than a block (64), and afterwards no gradient
    reaches the layers below through the repacked ones (measured: the input's grad is None). One path
    keeps training, evaluation, latency and reloading computing the same model.
    """
    for _, layer in linear_4bit_layers(model):
        layer.support_avx512bf16_for_cpu = False


def save_gguf_dequantised(model: Any, folder: str) -> None:
    """Save a GGUF-loaded model as a plain folder. transformers dequantises GGUF weights as it loads them
    but still marks the model quantised with `gguf`, and refuses to save such a model."""
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        delattr(model.config, "quantization_config")
    model.save_pretrained(folder)


def keep_activations_in_bf16(model: Any) -> None:
    """Cast the base's frozen weights that are not 4-bit (norms, embeddings) from fp32 to bf16.

    A 4-bit layer returns its output in its input's dtype; with fp32 norms before it (peft's k-bit
    preparation) every layer's output, and every activation kept for the backward pass, is fp32, where
    autocast keeps LoRA's in bf16. Measured on SmolLM2 at batch 8 x 128 tokens: 3,486 MB peak with fp32
    norms, 1,987 MB with bf16 ones, against LoRA's 2,935. (fp16 stays fp32 there: its range is too
    small for norms.) The adapters and the head stay fp32.
    """
    import torch

    for parameter in model.parameters():
        if parameter.dtype == torch.float32 and type(parameter).__name__ != "Params4bit":
            parameter.data = parameter.data.to(torch.bfloat16)


def load_in_4bit(name_or_path: str, record: dict[str, Any], dtype: Any, what: str) -> Any:
    """A model folder loaded with its linear layers in 4-bit; a one-line ModelError where bnb cannot."""
    from transformers import AutoModel

    try:
        model = AutoModel.from_pretrained(name_or_path, quantization_config=bnb_config(record), dtype=dtype)
    except (OSError, ValueError, RuntimeError, TypeError, ImportError) as error:
        raise ModelError(f"model.name: cannot load {what} quantised to 4 bits: {first_line(error)}") from None
    if not linear_4bit_layers(model):
        raise ModelError(f"model.name: {what} has no linear layers bitsandbytes can quantise to 4 bits")
    keep_one_cpu_path(model)
    return model


class Qlora(Lora):
    name = "qlora"
    defaults = {"train": {"lr": 1e-3}}
    options = QloraOptions
    # Served as trained: the 4-bit base with its adapters apart (see `for_inference`).
    merges_for_serving = False
    # Where the full-precision base came from (recipe, source, pad token): saving loads it again.
    full_precision: tuple[Recipe, ModelSource, int | None] | None = None

    def check_model(self, recipe: Recipe, source: ModelSource) -> None:
        require_bitsandbytes()
        super().check_model(recipe, source)

    def load_backbone(self, recipe: Recipe, source: ModelSource, pad_token_id: int | None) -> Any:
        import torch

        require_bitsandbytes()
        # Saving needs the original full-precision weights again (the 4-bit ones cannot give them back).
        self.full_precision = (recipe, source, pad_token_id)
        record = quantization_record(self.own_options(recipe))
        dtype = getattr(torch, recipe.model.dtype)  # float32, bfloat16, float16
        if source.gguf_file:
            # transformers refuses a quantization_config with a GGUF file: dequantise the GGUF to a
            # temporary safetensors folder, then quantise that as any folder (the saved base is the same).
            with tempfile.TemporaryDirectory(prefix="ftrun-qlora-") as folder:
                save_gguf_dequantised(Method.load_backbone(self, recipe, source, pad_token_id), folder)
                backbone = load_in_4bit(folder, record, dtype, f"{source.name_or_path}/{source.gguf_file}")
        else:
            backbone = load_in_4bit(source.name_or_path, record, dtype, source.name_or_path)
        if getattr(backbone.config, "pad_token_id", None) is None:
            backbone.config.pad_token_id = pad_token_id
        return backbone

    def prepare(self, classifier: Classifier, recipe: Recipe) -> Classifier:
        from peft import prepare_model_for_kbit_training

        # Freezes the base and keeps its other weights (norms, embeddings) in fp32. Gradient
        # checkpointing stays off: peft's default turns it on, which trades time for memory unasked.
        classifier.backbone = prepare_model_for_kbit_training(
            classifier.backbone, use_gradient_checkpointing=False
        )
        if compute_dtype_name(self.own_options(recipe).compute_dtype) == "bfloat16":
            keep_activations_in_bf16(classifier.backbone)
        return super().prepare(classifier, recipe)

    def save(
        self,
        classifier: Classifier,
        tokenizer: PreTrainedTokenizerBase,
        folder: Path,
        head_description: dict[str, Any],
    ) -> None:
        """`model/adapter/` over the full-precision base; `model/` merged onto the dequantised base, or
        (without `save_merged`) the config and tokenizer only."""
        from runner.model import hf_folder

        assert self.full_precision is not None, "the run loads its backbone through this method"
        recipe, source, pad_token_id = self.full_precision
        options = self.own_options(recipe)
        adapted, head = classifier.backbone, classifier.head

        def original_base() -> Any:  # loaded once per use: peft wraps a base in place
            return Method.load_backbone(self, recipe, source, pad_token_id)

        base = original_base()
        config = hf_folder.ftrun_config(head_description, base.config)  # the base's, with no bnb config
        config.quantization = quantization_record(options)
        config.merged_onto = "dequantized_4bit" if options.save_merged else None
        save_sequence_classification_adapter(folder / "adapter", adapted, head, tokenizer, config, base)
        del base
        if not options.save_merged:
            hf_folder.save_config_and_tokenizer(folder, tokenizer, config)
            return
        base = original_base()
        dequantize_into(base, adapted)
        hf_folder.save_model_folder(folder, merged_copy(base, adapted), head, tokenizer, config)

    def for_inference(self, classifier: Classifier) -> Classifier:
        return classifier  # QLoRA serves the 4-bit base with the adapters apart, as it trained

    def load_saved(self, folder: Path) -> Any:
        if hf_folder_has_weights(folder):
            return super().load_saved(folder)
        return load_adapter_in_4bit(folder)


def dequantize_into(base: Any, adapted: Any) -> None:
    """Put the dequantised 4-bit weights the run trained over into the full-precision `base`."""
    from bitsandbytes.functional import dequantize_4bit

    modules = dict(base.named_modules())
    for name, layer in linear_4bit_layers(adapted):
        target = modules[name.removeprefix("base_model.model.").removesuffix(".base_layer")]
        weight = dequantize_4bit(layer.weight.data, layer.weight.quant_state)
        target.weight.data = weight.to(target.weight.dtype).reshape(target.weight.shape)


def merged_copy(base: Any, adapted: Any) -> Any:
    """`base` with `adapted`'s LoRA weights merged in, in full precision."""
    import copy

    from peft import get_peft_model, get_peft_model_state_dict, set_peft_model_state_dict

    wrapped = get_peft_model(base, copy.deepcopy(adapted.peft_config["default"]))
    loaded: Any = set_peft_model_state_dict(wrapped, get_peft_model_state_dict(adapted))
    assert not loaded.unexpected_keys, f"adapter weights with no place: {loaded.unexpected_keys}"
    return wrapped.merge_and_unload()


def hf_folder_has_weights(folder: Path) -> bool:
    return any((folder / name).is_file() for name in ("model.safetensors", "model.safetensors.index.json"))


def load_adapter_in_4bit(folder: Path) -> Any:
    """The saved adapter over its base loaded in 4-bit as the run trained it (`model/` holds no merge)."""
    from peft import PeftModel

    from runner.model.modeling_ftrun import FtrunConfig, FtrunForSequenceClassification

    require_bitsandbytes()
    record = FtrunConfig.from_pretrained(folder).quantization
    base = FtrunForSequenceClassification.from_pretrained(
        folder / "adapter" / "base", quantization_config=bnb_config(record)
    )
    keep_one_cpu_path(base)
    # Adapters apart: merging them into 4-bit weights would round them to 4 bits.
    return PeftModel.from_pretrained(base, folder / "adapter").get_base_model()
