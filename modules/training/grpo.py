"""Group-relative policy optimisation (GRPO, as DeepSeek-R1-Zero was trained) over prompts whose picture and sound
prefixes are embeddings spliced in at marker tokens.

For each prompt a group of replies is sampled from the current policy; each reply's advantage is its reward less
the group's mean, over the group's standard deviation; the loss is PPO's clipped policy-ratio objective over the
reply tokens with a KL penalty to a frozen reference copy (the starting model), averaged per reply.

Our own loop rather than TRL's GRPOTrainer: the trainer samples with `model.generate` from token ids (and, for the
vision-language families it knows, a processor's pixel_values) and scores log-probabilities from input_ids again.
Our prompts carry prefix embeddings made outside the language model, by frozen encoders and the prefix bridge,
spliced at <|image|> / <|audio|> markers; neither path can take them without wrapping the encoders, bridge and
language model as a new vision-language family with its own processor. The loop below is the part of GRPO we need:
sampling from embeddings with a KV cache, per-token log-probabilities, group advantages and the clipped loss.

The policy updates also move DeepSeek-V3's auxiliary-loss-free balancing bias (settings.bias_update_rate), as the
language stages do: after each update, from the routed experts that the replies' own tokens went to in its forward
passes (the prompts' tokens and the padding left out).
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from transformers import DynamicCache

from ..moe_trace import ExpertRecorder, update_balancing_bias
from .train_language import splice


@dataclass
class Prompt:
    """One question as the policy reads it: token ids with marker tokens where prefixes go."""

    ids: torch.Tensor                                       # (P,) long
    prefixes: dict[int, torch.Tensor] = field(default_factory=dict)   # marker id -> (n, tokens, H), in order
    item: Any = None                                        # what the judge reads (the question, its check)


@dataclass(frozen=True)
class Judged:
    """A reply's reward and the figures logged about it (each averaged over the step's replies)."""

    reward: float
    figures: dict[str, float] = field(default_factory=dict)


Judge = Callable[[Any, list[int]], Judged]                 # (prompt.item, reply ids without eos) -> Judged


@dataclass(frozen=True)
class GrpoSettings:
    group_size: int = 8
    temperature: float = 1.0
    max_reply_tokens: int = 96
    kl_weight: float = 0.04
    clip: float = 0.2
    updates_per_step: int = 1
    max_grad_norm: float = 1.0
    bias_update_rate: float = 0.0   # the experts' balancing bias moves this much per update (0: it stays)


@dataclass
class Group:
    """A prompt's sampled replies and what the loss needs of them."""

    prompt: Prompt
    replies: torch.Tensor         # (G, L) ids, padded after each reply's end
    mask: torch.Tensor            # (G, L) 1.0 on the reply's tokens, its end token included
    advantages: torch.Tensor      # (G,)
    ref_logp: torch.Tensor        # (G, L) the reference model's log-probabilities of the reply tokens
    judged: list[Judged]
    old_logp: torch.Tensor | None = None   # (G, L) the policy's, as it sampled (set on the first update)


def prompt_embeds(model, prompt: Prompt) -> torch.Tensor:
    """(1, P, H): the prompt's token embeddings with its prefixes put at their markers."""
    ids = prompt.ids[None].to(model.device)                                              # (1, P)
    embeds = model.get_input_embeddings()(ids)
    for marker, prefix in prompt.prefixes.items():
        embeds = splice(embeds, ids, marker, prefix.to(model.device))
    return embeds


@torch.no_grad()
def sample_replies(model, prompt: Prompt, count: int, max_tokens: int, temperature: float, end_ids: list[int],
                   pad_id: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """`count` replies to one prompt, token by token with a KV cache: greedy at temperature 0, else sampled from the
    softmax at that temperature. -> (replies (count, L) padded with pad_id after each end, mask (count, L))."""
    cache = DynamicCache(config=model.config)
    embeds = prompt_embeds(model, prompt).expand(count, -1, -1)                            # (G, P, H)
    logits = model(inputs_embeds=embeds, cache=cache, use_cache=True).logits[:, -1]         # (G, V)
    ends = torch.tensor(end_ids, device=logits.device)
    done = torch.zeros(count, dtype=torch.bool, device=logits.device)
    tokens, mask = [], []
    for _ in range(max_tokens):
        token = next_tokens(logits, temperature, generator)                                  # (G,)
        token = torch.where(done, torch.full_like(token, pad_id), token)
        tokens.append(token)
        mask.append(~done)
        done = done | torch.isin(token, ends)
        if done.all():
            break
        logits = model(input_ids=token[:, None], cache=cache, use_cache=True).logits[:, -1]
    return torch.stack(tokens, dim=1), torch.stack(mask, dim=1).float()


def next_tokens(logits: torch.Tensor, temperature: float, generator: torch.Generator | None) -> torch.Tensor:
    """logits (G, V) -> (G,) token ids."""
    if temperature <= 0:
        return logits.argmax(dim=-1)
    probs = (logits.float() / temperature).softmax(dim=-1)
    drawn = torch.multinomial(probs.cpu(), 1, generator=generator)[:, 0]
    return drawn.to(logits.device)


def reply_log_probs(model, prompt: Prompt, replies: torch.Tensor) -> torch.Tensor:
    """(G, L): each reply token's log-probability under the model, given the prompt and the reply before it."""
    head = prompt_embeds(model, prompt).expand(replies.shape[0], -1, -1)                    # (G, P, H)
    embeds = torch.cat([head, model.get_input_embeddings()(replies.to(model.device))], dim=1)   # (G, P + L, H)
    logits = model(inputs_embeds=embeds, use_cache=False,
                   logits_to_keep=replies.shape[1] + 1).logits[:, :replies.shape[1]]         # (G, L, V)
    return logits.float().log_softmax(-1).gather(-1, replies[..., None].to(logits.device))[..., 0]


def group_advantages(rewards: torch.Tensor, eps: float = 1e-4) -> torch.Tensor:
    """rewards (..., G) -> (reward - the group's mean) / (the group's standard deviation + eps): zero for a group
    whose replies all scored alike, positive for the replies better than their group."""
    mean = rewards.mean(dim=-1, keepdim=True)
    std = rewards.std(dim=-1, keepdim=True, unbiased=False)
    return (rewards - mean) / (std + eps)


def grpo_loss(logp: torch.Tensor, old_logp: torch.Tensor, ref_logp: torch.Tensor, advantages: torch.Tensor,
              mask: torch.Tensor, clip: float, kl_weight: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The clipped surrogate with a KL penalty, to minimise. logp, old_logp, ref_logp, mask (G, L); advantages
    (G,). -> (loss, mean per-reply KL to the reference). The KL is the unbiased, never negative estimate
    exp(ref - logp) - (ref - logp) - 1 of each token, 0 where the policy is the reference."""
    ratio = (logp - old_logp).exp()
    gain = advantages[:, None]
    surrogate = torch.minimum(ratio * gain, ratio.clamp(1 - clip, 1 + clip) * gain)
    log_ref_ratio = ref_logp - logp
    kl = log_ref_ratio.exp() - log_ref_ratio - 1
    per_token = -(surrogate - kl_weight * kl)
    lengths = mask.sum(dim=1).clamp(min=1)
    return ((per_token * mask).sum(dim=1) / lengths).mean(), ((kl * mask).sum(dim=1) / lengths).mean()


def roll_out(policy, reference, prompt: Prompt, judge: Judge, settings: GrpoSettings, end_ids: list[int],
             pad_id: int, generator: torch.Generator | None) -> Group:
    """Sample a group of replies to one prompt, judge them and get the reference's log-probabilities."""
    replies, mask = sample_replies(policy, prompt, settings.group_size, settings.max_reply_tokens,
                                   settings.temperature, end_ids, pad_id, generator)
    judged = [judge(prompt.item, written_ids(row, row_mask, end_ids)) for row, row_mask in zip(replies, mask)]
    rewards = torch.tensor([j.reward for j in judged])
    with torch.no_grad():
        ref_logp = reply_log_probs(reference, prompt, replies)
    return Group(prompt, replies, mask.to(ref_logp.device), group_advantages(rewards).to(ref_logp.device),
                 ref_logp, judged)


def written_ids(row: torch.Tensor, mask: torch.Tensor, end_ids: list[int]) -> list[int]:
    """A reply's tokens as text would show them: without padding and without its end token."""
    return [t for t, keep in zip(row.tolist(), mask.tolist()) if keep and t not in end_ids]


def grpo_step(policy, reference, optimizer: torch.optim.Optimizer, prompts: list[Prompt], judge: Judge,
              settings: GrpoSettings, end_ids: list[int], pad_id: int,
              generator: torch.Generator | None = None) -> dict[str, float]:
    """One GRPO step over the prompts: roll out a group for each, then settings.updates_per_step policy updates on
    them, each followed by a move of the balancing bias when settings.bias_update_rate is set. Returns the step's
    figures: reward, each judged figure, reply tokens and the KL to the reference (both measured before the step's
    first update), and the loss."""
    policy.eval()                          # no dropout in the replies nor in the log-probabilities
    groups = [roll_out(policy, reference, p, judge, settings, end_ids, pad_id, generator) for p in prompts]
    parameters = [p for p in policy.parameters() if p.requires_grad]
    recorder = ExpertRecorder(policy) if settings.bias_update_rate else None
    first_kl = first_loss = 0.0
    for update in range(settings.updates_per_step):
        optimizer.zero_grad()
        with recorder if recorder is not None else contextlib.nullcontext():
            if recorder is not None:
                recorder.clear()
            for group in groups:
                logp = reply_log_probs(policy, group.prompt, group.replies)
                if group.old_logp is None:     # the first update's policy is the one that sampled
                    group.old_logp = logp.detach()
                loss, kl = grpo_loss(logp, group.old_logp, group.ref_logp, group.advantages, group.mask,
                                     settings.clip, settings.kl_weight)
                (loss / len(groups)).backward()
                if update == 0:
                    first_kl, first_loss = first_kl + kl.item() / len(groups), first_loss + loss.item() / len(groups)
        torch.nn.utils.clip_grad_norm_(parameters, settings.max_grad_norm)
        optimizer.step()
        if recorder is not None:
            update_balancing_bias(recorder, recorder.experts_count, settings.bias_update_rate,
                                  token_mask=reply_token_mask(groups))
    return step_figures(groups) | {"kl": first_kl, "loss": first_loss}


def reply_token_mask(groups: list[Group]) -> torch.Tensor:
    """(sum over the groups of G * (P + L),) bool, in the order reply_log_probs passes the groups' tokens through
    each MoE layer: True on every reply's own tokens (its end token included), False on the prompt (its picture and
    sound prefixes too) and on the padding after a reply's end."""
    rows = []
    for group in groups:
        prompt = torch.zeros(group.replies.shape[0], len(group.prompt.ids), dtype=torch.bool)       # (G, P)
        rows.append(torch.cat([prompt, group.mask.bool().cpu()], dim=1).flatten())                  # (G * (P + L),)
    return torch.cat(rows)


def step_figures(groups: list[Group]) -> dict[str, float]:
    """The mean reward, judged figures and reply length over every reply of the step."""
    judged = [j for group in groups for j in group.judged]
    figures = {"reward": sum(j.reward for j in judged) / len(judged)}
    for name in judged[0].figures:
        figures[name] = sum(j.figures[name] for j in judged) / len(judged)
    figures["reply_tokens"] = float(torch.cat([g.mask.sum(dim=1) for g in groups]).mean())
    return figures
