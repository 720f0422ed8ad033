"""The CPU dropout is torch's dropout with a cheaper mask: the same distribution (p to 2^-16), kept
elements scaled to the same expectation, the same attention as transformers' eager kernel."""

import contextlib
import itertools

import pytest
import torch
from scipy.stats import chi2_contingency, chisquare
from torch import nn

from runner.model import cpu_dropout
from runner.model.classifier import use_attention
from runner.model.cpu_dropout import (
    ATTENTION,
    FULL_RANGE,
    LEVELS,
    PARALLEL_FROM,
    CpuDropout,
    fast_dropout,
    random_int16,
    use_cpu_dropout,
)


def scale(p):
    """The kept elements' scale: p is rounded to a multiple of 2^-16, the scale keeps expectations exact."""
    return 65536 / (65536 - round(p * 65536))


def test_fast_dropout_keeps_one_minus_p_of_the_elements_and_scales_them():
    torch.manual_seed(0)
    x = torch.rand(400, 1000) + 0.5
    y = fast_dropout(x, 0.1, training=True)
    kept = y != 0
    assert kept.float().mean().item() == pytest.approx(0.9, abs=0.003)
    assert torch.allclose(y[kept], x[kept] * scale(0.1), rtol=1e-7)
    assert scale(0.1) == pytest.approx(1 / 0.9, rel=1e-5)


def test_fast_dropout_passes_gradients_through_kept_elements_only():
    torch.manual_seed(0)
    x = torch.rand(50, 60, requires_grad=True)
    y = fast_dropout(x, 0.3, training=True)
    y.sum().backward()
    assert x.grad is not None
    expected = (y != 0).float() * scale(0.3)
    assert torch.allclose(x.grad, expected)


def test_fast_dropout_is_the_identity_outside_training_and_at_p_zero():
    x = torch.rand(10, 10)
    assert fast_dropout(x, 0.5, training=False) is x
    assert fast_dropout(x, 0.0, training=True) is x


def test_fast_dropout_of_bf16_input_keeps_its_dtype():
    x = torch.ones(1000, 100, dtype=torch.bfloat16)
    y = fast_dropout(x, 0.25, training=True)
    assert y.dtype == torch.bfloat16
    assert (y != 0).float().mean().item() == pytest.approx(0.75, abs=0.01)


@pytest.mark.parametrize("size", [100, 1 << 20])  # one generator; a generator per thread
def test_fast_dropout_is_reproducible_under_a_seed(size):
    x = torch.rand(size)
    torch.manual_seed(3)
    first = fast_dropout(x, 0.1, training=True)
    torch.manual_seed(3)
    assert torch.equal(first, fast_dropout(x, 0.1, training=True))
    assert not torch.equal(first, fast_dropout(x, 0.1, training=True))


@pytest.mark.parametrize("size", [1001, 1 << 20])  # one generator; a generator per thread
def test_every_bit_of_the_mask_numbers_is_random(size):
    # A draw of 63 bits (torch's `random_()` without a range) would leave one number in four >= 0.
    torch.manual_seed(0)
    numbers = random_int16(torch.Size([size])).int()
    assert numbers.shape == (size,)
    for bit in range(16):
        ones = ((numbers >> bit) & 1).float().mean().item()
        assert ones == pytest.approx(0.5, abs=0.05 if size < 5000 else 0.005), bit
    every_fourth = numbers[3::4]
    assert (every_fourth < 0).float().mean().item() == pytest.approx(0.5, abs=0.1)


def test_fast_dropout_leaves_extreme_rates_to_torch():
    torch.manual_seed(0)
    x = torch.ones(1000)
    assert torch.equal(fast_dropout(x, 1.0, training=True), torch.zeros(1000))
    assert (fast_dropout(x, 1 - 1e-6, training=True) == 0).all()  # rounds to 2^16 of 2^16 dropped
    rare = fast_dropout(x, 1e-7, training=True)  # rounds to none of 2^16: torch's own dropout
    assert torch.allclose(rare, x / (1 - 1e-7))


def test_a_mask_drawn_in_parts_has_independent_parts():
    threads = torch.get_num_threads()
    torch.set_num_threads(4)
    try:
        numbers = random_int16(torch.Size([1 << 20])).float()
    finally:
        torch.set_num_threads(threads)
    parts = numbers.chunk(4)
    assert all(-400 < part.mean().item() < 400 for part in parts)  # uniform on [-32768, 32767]
    assert not any(torch.equal(parts[0][:100], part[:100]) for part in parts[1:])


@contextlib.contextmanager
def torch_threads(count):
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def kept(size, p, seed=0):
    """The keep mask of `fast_dropout` over `size` elements (True: kept)."""
    torch.manual_seed(seed)
    return fast_dropout(torch.ones(size), p, training=True) != 0


def independence_p_value(a, b):
    """Chi-square p-value of a 2x2 contingency table of two keep masks, element by element."""
    table = [[int((a & b).sum()), int((a & ~b).sum())], [int((~a & b).sum()), int((~a & ~b).sum())]]
    return chi2_contingency(table)[1]


def test_mask_element_4k_plus_j_is_bits_16j_to_16j_plus_15_of_the_kth_64_bit_draw():
    torch.manual_seed(5)
    numbers = random_int16(torch.Size([12])).view(3, 4)
    torch.manual_seed(5)
    draws = torch.empty(3, dtype=torch.int64).random_(FULL_RANGE, None)
    for k, j in itertools.product(range(3), range(4)):
        bits = (draws[k].item() >> (16 * j)) & 0xFFFF
        assert numbers[k, j].item() == bits - (1 << 16 if bits >= 1 << 15 else 0), (k, j)


# Seeded masks, so each p-value is fixed; 1e-3 leaves room for chance, the controls show the power.
INDEPENDENT = 1e-3


@pytest.mark.parametrize("p", [0.5, 0.1])
def test_the_four_mask_elements_of_one_draw_are_independent(p):
    size = PARALLEL_FROM - 4  # below it one generator draws the whole mask
    draws = kept(size, p).view(-1, 4)
    for i, j in itertools.combinations(range(4), 2):
        assert independence_p_value(draws[:, i], draws[:, j]) > INDEPENDENT, (i, j)
    # All 16 keep/drop patterns of a draw at the rates four independent elements give.
    keep_rate = 1 - round(p * LEVELS) / LEVELS
    patterns = (draws.long() * torch.tensor([1, 2, 4, 8])).sum(1).bincount(minlength=16)
    kept_in = [bin(pattern).count("1") for pattern in range(16)]
    expected = [len(draws) * keep_rate**n * (1 - keep_rate) ** (4 - n) for n in kept_in]
    assert chisquare(patterns.tolist(), expected).pvalue > INDEPENDENT


@pytest.mark.parametrize("p", [0.5, 0.1])
def test_the_independence_test_fails_a_mask_copied_within_each_draw(p):
    draws = kept(PARALLEL_FROM - 4, p).view(-1, 4).clone()
    draws[:, 1] = draws[:, 0]
    assert independence_p_value(draws[:, 0], draws[:, 1]) < 1e-6
    draws[:, 3] = ~draws[:, 2]
    assert independence_p_value(draws[:, 2], draws[:, 3]) < 1e-6


@pytest.mark.parametrize("p", [0.5, 0.1])
def test_parts_drawn_on_different_threads_are_independent(p, monkeypatch):
    calls = []
    draw_in_parts = cpu_dropout.draw_in_parts
    monkeypatch.setattr(cpu_dropout, "draw_in_parts", lambda *a: calls.append(1) or draw_in_parts(*a))
    with torch_threads(4):
        parts = kept(1 << 20, p).view(4, -1)
    assert calls == [1]  # one mask, drawn in parts with a generator each
    for i in range(3):
        assert not torch.equal(parts[i], parts[i + 1])
        assert independence_p_value(parts[i], parts[i + 1]) > INDEPENDENT, i
    # A control: a part that repeats its neighbour with a fifth of the elements flipped is not equal to
    # it, and the test finds it.
    flips = torch.rand(parts.shape[1], generator=torch.Generator().manual_seed(0)) < 0.2
    assert not torch.equal(parts[0], parts[0] ^ flips)
    assert independence_p_value(parts[0], parts[0] ^ flips) < 1e-6


def test_the_same_seed_and_thread_count_give_the_same_masks():
    for threads in (1, 2, 4):
        with torch_threads(threads):
            assert torch.equal(kept(1 << 20, 0.1), kept(1 << 20, 0.1)), threads


def test_another_thread_count_changes_large_masks_and_later_draws_not_earlier_ones():
    def masks(threads):
        with torch_threads(threads):
            torch.manual_seed(0)
            return [fast_dropout(torch.ones(size), 0.1, training=True) != 0 for size in (1000, 1 << 20, 1000)]

    before, large, after = zip(masks(2), masks(4), strict=True)
    assert torch.equal(*before)
    assert not torch.equal(*large)
    assert not torch.equal(*after)  # the parts' seeds came from torch's global generator


def tiny(model_class, config_class, **overrides):
    """A random 2-layer model with 4 heads, on transformers' eager attention, built in memory."""
    config = config_class(
        vocab_size=100,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        attn_implementation="eager",
        **overrides,
    )
    torch.manual_seed(0)
    return model_class(config)


def tiny_bert(**overrides):
    from transformers import BertConfig, BertModel

    return tiny(BertModel, BertConfig, **overrides)


def encoded():
    input_ids = torch.randint(5, 100, (3, 12), generator=torch.Generator().manual_seed(1))
    attention_mask = torch.ones_like(input_ids)
    attention_mask[1, 7:] = 0  # padding must be masked as eager masks it
    return input_ids, attention_mask


def test_ftrun_attention_computes_what_eager_attention_computes():
    model = tiny_bert().eval()
    input_ids, attention_mask = encoded()
    expected = model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    use_attention(model, ATTENTION)
    assert model.config._attn_implementation == ATTENTION
    got = model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    assert torch.allclose(got, expected, atol=1e-6)


def test_ftrun_attention_trains_like_eager_attention_without_dropout():
    # Dropout off, training mode: the same loss and the same gradients as transformers' eager kernel.
    input_ids, attention_mask = encoded()
    grads = []
    for implementation in ("eager", ATTENTION):
        model = tiny_bert(attention_probs_dropout_prob=0.0, hidden_dropout_prob=0.0).train()
        use_attention(model, implementation)
        model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state.pow(2).mean().backward()
        grads.append(model.encoder.layer[0].attention.self.query.weight.grad)
    assert torch.allclose(grads[0], grads[1], atol=1e-6)


def test_ftrun_attention_serves_grouped_query_attention_like_eager():
    from transformers import LlamaConfig, LlamaModel

    model = tiny(LlamaModel, LlamaConfig, num_key_value_heads=2).eval()
    input_ids, attention_mask = encoded()
    expected = model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    use_attention(model, ATTENTION)
    got = model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    assert torch.allclose(got[attention_mask.bool()], expected[attention_mask.bool()], atol=1e-5)


def test_use_cpu_dropout_swaps_every_plain_dropout_and_keeps_the_weights():
    model = tiny_bert()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    dropouts = [m for m in model.modules() if type(m) is nn.Dropout]
    assert dropouts
    use_cpu_dropout(model)
    assert all(type(m) is CpuDropout for m in dropouts)
    assert not any(type(m) is nn.Dropout for m in model.modules())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert [m.p for m in dropouts] == [0.1] * len(dropouts)
