"""ftrun's classifier as a Hugging Face model: any `AutoModel` backbone, a pooling rule, and an MLP head.

This file is copied into every saved model folder as `modeling_ftrun.py` and named in config.json's
`auto_map`, so `AutoModelForSequenceClassification.from_pretrained(folder, trust_remote_code=True)`
and `pipeline("text-classification", ...)` load it without ftrun installed. It therefore imports
nothing but torch and transformers. ftrun trains with the same `Head` and `pool`, so the folder
computes exactly what the run measured.
"""

from __future__ import annotations

from typing import Any, cast

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """One vector per text from the backbone's last hidden states, ignoring padding.

    Positions before the text's (a soft prompt's virtual tokens) are left out: they steer the text's
    states through attention, and leaving them out keeps `first` the text's first token and `mean` the
    text's own average (a decoder's virtual tokens see only each other, so they are the same vectors
    for every text and would only dilute it).
    """
    hidden = hidden[:, hidden.shape[1] - attention_mask.shape[1] :]
    if pooling == "mean":
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
    if pooling == "first":
        return hidden[:, 0]
    # Last real token, whichever side the padding is on.
    positions = torch.arange(attention_mask.shape[1], device=attention_mask.device)
    last = (attention_mask * positions).argmax(dim=1)
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]


class SoftPrompt(nn.Module):
    """Learned input embeddings put before every text's (prompt tuning), which the backbone attends to."""

    def __init__(self, tokens: int, width: int) -> None:
        super().__init__()
        self.embeddings = nn.Parameter(torch.zeros(tokens, width))

    def prepend(
        self, text_embeddings: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The prompt's embeddings before each text's, and the attention mask over both."""
        batch = text_embeddings.shape[0]
        prompt = self.embeddings.to(text_embeddings.dtype).expand(batch, -1, -1)
        seen = attention_mask.new_ones(batch, self.embeddings.shape[0])
        return torch.cat((prompt, text_embeddings), dim=1), torch.cat((seen, attention_mask), dim=1)


def last_hidden_state(
    backbone: nn.Module,
    soft_prompt: SoftPrompt | None,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    **types: torch.Tensor,
) -> torch.Tensor:
    """The backbone's last hidden states, after a soft prompt's virtual tokens where there is one.

    With a soft prompt, token types are not passed (peft's prompt tuning, which trained it, drops them).
    """
    if soft_prompt is None:
        return backbone(input_ids=input_ids, attention_mask=attention_mask, **types).last_hidden_state
    embed = cast(Any, backbone).get_input_embeddings()  # a PreTrainedModel's
    embeddings, mask = soft_prompt.prepend(embed(input_ids), attention_mask)
    return backbone(inputs_embeds=embeddings, attention_mask=mask).last_hidden_state


class Head(nn.Module):
    """The seed's replacement decision layer: hidden units (1000 there) then the output layer.

    With `word_classes` (zero-shot), the output layer scores label words, one row per word, and each
    class is the logsumexp of its words' scores: word `i` belongs to class `word_classes[i]`.
    """

    def __init__(
        self,
        in_features: int,
        hidden: int,
        num_labels: int,
        dropout: float,
        word_classes: list[int] | None = None,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.in_features = in_features
        self.word_classes = word_classes
        outputs = num_labels if word_classes is None else len(word_classes)
        if hidden:
            self.layers = nn.Sequential(
                nn.Dropout(dropout),
                nn.Linear(in_features, hidden),
                nn.ReLU(),
                nn.Dropout(dropout),
                nn.Linear(hidden, outputs, bias=bias),
            )
        else:
            self.layers = nn.Sequential(nn.Dropout(dropout), nn.Linear(in_features, outputs, bias=bias))
        self.num_labels = num_labels

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        # The outputs are read as numbers (probabilities, a regression value): computed outside any
        # autocast and returned in float32, since a bf16 output layer rounds them to 8 significant bits.
        *hidden, last = self.layers
        weight, bias = cast(torch.Tensor, last.weight), cast("torch.Tensor | None", last.bias)
        with torch.autocast(features.device.type, enabled=False):
            hidden_features = features.to(weight.dtype)
            for layer in hidden:
                hidden_features = layer(hidden_features)
            scores = nn.functional.linear(
                hidden_features.float(), weight.float(), None if bias is None else bias.float()
            )
        if self.word_classes is None:
            return scores
        # Built at each call, not kept as a buffer: from_pretrained leaves unsaved buffers uninitialised.
        classes = torch.tensor(self.word_classes, device=scores.device)
        member = classes.unsqueeze(0) == torch.arange(self.num_labels, device=scores.device).unsqueeze(1)
        # (batch, 1, words) with -inf where a word is not the class's: each class's logsumexp of its own.
        outside = torch.zeros(member.shape, dtype=scores.dtype, device=scores.device).masked_fill(
            ~member, float("-inf")
        )
        return torch.logsumexp(scores.unsqueeze(1) + outside, dim=-1)


class FtrunConfig(PretrainedConfig):
    """The backbone's own config (nested as `text_config`) plus pooling, head sizes and labels."""

    model_type = "ftrun"

    def __init__(
        self,
        text_config: dict[str, Any] | PretrainedConfig | None = None,
        pooling: str = "mean",
        head_in_features: int = 0,
        head_hidden: int = 0,
        head_dropout: float = 0.0,
        max_tokens: int = 512,
        prompt: dict[str, str] | None = None,
        method: str = "",
        base_model: str = "",
        base_model_revision: str | None = None,
        token_types: bool = False,
        encoding: dict[str, Any] | None = None,
        thresholds: list[float] | None = None,
        task: str | None = None,
        soft_prompt_tokens: int = 0,
        head_word_classes: list[int] | None = None,
        label_words: list[list[str]] | None = None,
        head_bias: bool = True,
        **kwargs: Any,
    ) -> None:
        if isinstance(text_config, dict):
            text_config = AutoConfig.for_model(**text_config)
        self.text_config = text_config
        self.pooling = pooling
        self.head_in_features = head_in_features
        self.head_hidden = head_hidden
        self.head_dropout = head_dropout
        self.max_tokens = max_tokens  # model.max_length (`max_length` is a generation setting)
        # prompt-linear: the text put before and after each input, which the head was trained behind.
        self.prompt = prompt
        self.method = method
        self.base_model = base_model
        self.base_model_revision = base_model_revision
        # Sentence pairs on a model with token types: the second text's tokens have type 1.
        self.token_types = token_types
        # How ftrun cut and joined texts (`data.truncation`, `head_share`, pairs and their separator).
        self.encoding = encoding or {}
        # A task with thresholds: the probability per label at or above which the label is predicted.
        self.thresholds = thresholds
        # ftrun's `data.task` (None in folders written before it was recorded: read `problem_type`).
        self.task = task
        # prompt-tuning: learned embeddings put before every text's (0: none, as every other method).
        self.soft_prompt_tokens = soft_prompt_tokens
        # zero-shot: the class of each label word the head scores (None: the head scores classes).
        self.head_word_classes = head_word_classes
        # zero-shot: each class's label words, in label order (what the head's rows were taken for).
        self.label_words = label_words
        # Whether the head's output layer adds a bias (True in folders written before it was a choice).
        self.head_bias = head_bias
        super().__init__(**kwargs)


class FtrunForSequenceClassification(PreTrainedModel):
    config_class = FtrunConfig
    base_model_prefix = "backbone"
    # transformers sets the flag on every layer of the backbone that has one: fine-tuning this folder
    # further can checkpoint activations as ftrun does.
    supports_gradient_checkpointing = True

    def __init__(self, config: FtrunConfig) -> None:
        super().__init__(config)
        self.backbone = AutoModel.from_config(config.text_config)
        self.head = Head(
            config.head_in_features,
            config.head_hidden,
            config.num_labels or 2,
            config.head_dropout,
            getattr(config, "head_word_classes", None),
            getattr(config, "head_bias", True),
        )
        tokens = config.soft_prompt_tokens
        width = self.backbone.get_input_embeddings().embedding_dim
        self.soft_prompt = SoftPrompt(tokens, width) if tokens else None
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        # Every weight comes from the checkpoint; a fresh model (the adapter's base) keeps torch's init.
        pass

    def get_input_embeddings(self) -> nn.Module:
        return self.backbone.get_input_embeddings()

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> SequenceClassifierOutput:
        # Token types only where ftrun trained with them (sentence pairs); other extras are dropped.
        assert input_ids is not None, "FtrunForSequenceClassification needs input_ids"
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        types = (
            {"token_type_ids": token_type_ids}
            if self.config.token_types and token_type_ids is not None
            else {}
        )
        hidden = last_hidden_state(self.backbone, self.soft_prompt, input_ids, attention_mask, **types)
        logits = self.head(pool(hidden, attention_mask, self.config.pooling))
        return SequenceClassifierOutput(
            loss=None if labels is None else self._loss(logits, labels), logits=logits
        )

    def _loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        # Told apart by shape, as transformers' own heads do where no problem_type is set.
        if logits.shape[-1] == 1:  # one output: a value
            return nn.functional.mse_loss(logits.squeeze(-1), labels.float())
        if labels.shape == logits.shape:  # a 0/1 per label
            return nn.functional.binary_cross_entropy_with_logits(logits, labels.float())
        return nn.functional.cross_entropy(logits, labels)
