"""Packed language-model rows: fewer rows, no example touching another, and every example's logits, attention
weights and router scores exactly what it gets padded in a row of its own."""
import pytest
import torch
from transformers import DeepseekV3ForCausalLM

from modules.moe_trace import moe_gates
from modules.training.balance_loss import RouterScores
from modules.training.packing import Packing
from tests.tiny_checkpoints import tiny_deepseek_v3_config

LENGTHS = [9, 3, 5, 4, 2, 6, 1]


def spans(packing: Packing) -> list[tuple[int, int, int]]:
    return [(int(r), int(s), int(s + n)) for r, s, n in zip(packing.rows, packing.starts, packing.lengths)]


def test_short_examples_share_rows_without_overlapping_or_spilling():
    packing = Packing.first_fit(LENGTHS)
    rows, width = packing.shape
    assert width == max(LENGTHS) and rows == 4 < len(LENGTHS)          # 30 tokens in 4 rows of 9, not 7 rows
    taken = torch.zeros(packing.shape, dtype=torch.int)
    for row, start, end in spans(packing):
        assert 0 <= start < end <= width
        taken[row, start:end] += 1
    assert taken.max() == 1 and torch.equal(taken.bool(), packing.token_mask())
    positions = packing.position_ids()
    for (row, start, end), length in zip(spans(packing), LENGTHS):
        assert positions[row, start:end].tolist() == list(range(length))


def test_an_empty_example_is_refused_by_its_length():
    with pytest.raises(ValueError, match=r"at least one token; got lengths \[4, 0\]"):
        Packing.first_fit([4, 0])


def padded_batch(lengths: list[int], vocab: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(3, vocab, (len(lengths), max(lengths)), generator=generator)          # (B, T)
    mask = (torch.arange(max(lengths))[None] < torch.tensor(lengths)[:, None]).long()
    return ids * mask, mask


@pytest.mark.parametrize("lay_out", [Packing.first_fit, Packing.one_per_row])
def test_each_packed_example_gets_what_it_gets_padded_alone(lay_out):
    torch.manual_seed(0)
    model = DeepseekV3ForCausalLM(tiny_deepseek_v3_config(97, layers=3, context=64, bos=1, eos=2, pad=0))
    model.set_attn_implementation("eager")
    ids, mask = padded_batch(LENGTHS, 97)
    packing = lay_out(LENGTHS)
    length, inside = ids.shape[1], mask.bool()
    with RouterScores(moe_gates(model)) as routers:
        padded = model(input_ids=ids, attention_mask=mask, output_attentions=True, use_cache=False)
        alone = [logits for logits, _ in routers.seen]
        routers.clear()
        embeds = packing.pack(model.get_input_embeddings()(ids))
        packed = model(inputs_embeds=embeds, position_ids=packing.position_ids(), output_attentions=True,
                       use_cache=False)
        together = [packing.unpack_tokens(logits, length) for logits, _ in routers.seen]
    logits = packing.unpack(packed.logits, length)
    assert torch.allclose(logits[inside], padded.logits[inside], atol=1e-5)
    assert (logits[~inside] == 0).all()
    for apart, packed_weights in zip(padded.attentions, packed.attentions):
        weights = packing.unpack_attention(packed_weights, length)                          # (B, heads, T, T)
        for row, count in enumerate(LENGTHS):
            assert torch.allclose(weights[row, :, :count, :count], apart[row, :, :count, :count], atol=1e-6)
            assert torch.allclose(weights[row, :, :count].sum(dim=-1), torch.ones(1))
    for mine, theirs in zip(together, alone):
        assert torch.allclose(mine[inside.flatten()], theirs[inside.flatten()], atol=1e-5)
