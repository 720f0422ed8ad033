"""Save a randomly initialised model with OPT-350m's architecture (no weights needed) for speed runs.

Usage: python benchmarks/random_model.py OUT_DIR TOKENIZER_DIR
Throughput and memory depend on the architecture, not the weights, so this measures what the seed
recipes would cost where the real weights cannot be fetched. Accuracy from it is meaningless.
"""

import sys

import torch
from transformers import AutoModel, AutoTokenizer, OPTConfig

OPT_350M = OPTConfig(
    vocab_size=50272,
    hidden_size=1024,
    num_hidden_layers=24,
    ffn_dim=4096,
    num_attention_heads=16,
    max_position_embeddings=2048,
    word_embed_proj_dim=512,
    do_layer_norm_before=False,
    pad_token_id=1,
    bos_token_id=2,
    eos_token_id=2,
)

if __name__ == "__main__":
    out, tokenizer_dir = sys.argv[1], sys.argv[2]
    torch.manual_seed(0)
    AutoModel.from_config(OPT_350M).save_pretrained(out)
    # Any tokenizer whose ids fit the vocabulary gives realistic sequence lengths.
    AutoTokenizer.from_pretrained(tokenizer_dir).save_pretrained(out)
    print(
        f"saved {sum(p.numel() for p in AutoModel.from_pretrained(out).parameters()):,} parameters to {out}"
    )
