"""Sizes, step counts and seeds of the built-in mini suite, in one typed place."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..encoders.picture_stem import StemConfig

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class EncoderStage:
    """The open_clip picture-text model and the audio encoder, trained together into one text space."""

    scenes: int = 8000            # base scenes in the pool; each has a hard-negative partner (one thing changed)
    partner_changes: tuple[str, ...] = ("color", "shape", "size", "position")  # what a partner changes, one
                                  # drawn alike for each (corpus.perturbed; it can also "swap" two objects' places
                                  # or make one object more or fewer: "count"). The one run with those two added
                                  # lost shape to a loss spike in the shape phase, so their effect is not measured
    sounds: int = 4000
    shape_steps: int = 1500       # first, the picture tower learns only what each region holds (attribute and
                                  # patch heads), on plain batches. Through the convolutional stem (picture_stem)
                                  # 1,500 steps named 0.997 of the world's validation regions' shapes; the linear
                                  # 64 / 8 tower needed 2,500 (0.81 at 1,500; 1,000 steps with hard-negative pairs
                                  # left it at 0.33)
    steps: int = 1200             # then everything, contrastively, with the attribute loss kept on
    joint_stem_frozen: bool = True       # the picture stem (picture_stem) rests in the joint phase: the trunk moves at
                                         # a tenth of the rate there anyway, and its backward over 128 px is skipped.
                                         # Joint steps with it: 1.5-1.65 s on 2 threads (eighth run); without, 1.7-2.0
                                         # s in a run that may have shared the machine. Shape after the joint phase:
                                         # 0.997 of the world's validation regions (0.992 before it)
    joint_trunk_lr_scale: float = 0.1    # the picture trunk moves 10x slower in the joint phase: at full rate the
                                         # young text tower's gradients undid shape (0.997 -> 0.37 in 250 steps)
    picture_batch: int = 48       # base pictures per step (+ as many partners)
    sound_batch: int = 32
    lr: float = 3e-3              # at 1e-3 shape was learnt markedly slower (region-head shape 0.60 vs 0.76 at 400 steps)
    shape_max_grad_norm: float | None = 1.0   # in the shape phase each step's gradient is scaled down to this norm
                                  # when above it (calm steps: 0.4-3). Without it a shape phase spiked at step 505
                                  # (loss 0.51 -> 14) and never learnt shape (0.377 of validation regions; 0.986-0.995
                                  # with it, or on one thread)
    joint_max_grad_norm: float | None = None  # the joint phase's norms are 2-9: clipped at 1.0 there, test R@1 after
                                  # the places phase was 0.90 / 0.91 (en / zh; 0.94 / 0.97 unclipped, another run)
    embed_dim: int = 128
    image_size: int = 128         # the patch grid, image_size / patch_size, must stay 8x8: the bridge's cells and
    patch_size: int = 16          # the attribute heads read it. With open_clip's linear patch embedding, 128 px in
                                  # 16 px patches ended the shape phase at 0.41 of validation regions' shapes (0.88 at
                                  # 64 / 8 on the same pictures); through the stem below it reads tiny objects 10 px
                                  # across rather than 5
    picture_stem: StemConfig | None = field(default_factory=StemConfig)  # three convolutions in place of the linear
                                  # patch embedding (picture_stem.py; None: open_clip's own). The shape phase alone,
                                  # the same pictures, shapes of the world's validation regions | of the second
                                  # renderer's objects by the patch heads, radius at 64 px <3 / 3-4 / 4-5 / >=5:
                                  # 64 / 8 linear, 1,500 steps (1,565 s, one thread): 0.81 | 0.21 / 0.36 / 0.57 / 0.68;
                                  # 128 / 16 stem, 1,000 steps (1,591 s): 0.99 | 0.37 / 0.51 / 0.64 / 0.80;
                                  # 1,500 steps (2,375 s): 0.997 | 0.49 / 0.67 / 0.80 / 0.88
    vision_width: int = 128
    vision_layers: int = 6        # 4 learnt the world's own shapes (shape phase: 1.000 of validation regions) but,
                                  # with people's drawings in the mix (free_share), ended the shape phase at 0.882,
                                  # still rising; its patch tokens then told a small star from a triangle less than
                                  # from pixel noise. 6 layers cost about 1.3x the picture tower's step
    vision_pool: str = "avg"      # the picture's pooled embedding: the mean of the patch tokens, which the shape
                                  # phase's heads teach to name what each patch shows ("tok": open_clip's class
                                  # token). With "tok", after the joint phase pictures and captions differing only in
                                  # shape came out at a cosine of 0.96 / 0.98 and the world's single objects were
                                  # retrieved with the right shape 38 times in 60; 250 joint steps with "avg" from
                                  # the same shape phase gave 0.80 / 0.87 and 56 in 60 (R@1 on 200 validation scenes
                                  # 0.715, "tok" 0.715)
    text_width: int = 128
    text_layers: int = 3
    context_length: int = 48
    attribute_loss_weight: float = 2.0   # the per-region colour/shape/size loss, kept on in the joint phase
    beep_loss_weight: float = 1.0        # every time token of a sound names how many beeps have begun by its end
                                         # (beep_heads.py), beside the contrastive loss in the joint phase
    patch_loss_weight: float = 1.0       # every patch names the object drawn over it (patch_heads.py), beside the
                                         # region loss in both phases
    caption_place_weight: float = 1.0    # linear heads naming every place's colour, shape and size from a caption's
                                  # embedding, in the joint phase: without them captions that differ only in one
                                  # object's place came out of the text tower at a cosine of 0.9995-0.9998 (a colour,
                                  # size or shape changed: 0.79-0.85), and picture R@1 missed on exactly those
    place_steps: int = 400        # then the places phase (stage "places", modules/training/pool_places.py): the
                                  # picture tower alone, text tower frozen. Linear probes on the pooled embedding had
                                  # told which places hold an object only 0.67-0.73 of the time; R@1 on 400 validation
                                  # scenes 0.915/0.910 -> 0.960/0.960 (en/zh), patch tokens moved 0.4 % (squared)
    place_lr: float = 5e-4
    place_move_share: float = 0.5         # share of hard-negative partners in which one object moves to a free place
    place_head_weight: float = 1.0        # heads naming every place's colour, shape and size from the pooled embedding
    place_keep_weight: float = 10.0       # squared change of the patch tokens (relative), which later stages read
    background_weight: float = 1.0        # the background's colour from the pooled embedding by cosine at a fixed
    background_scale: float = 10.0        # scale (attribute_heads.BackgroundHead), so that it is no faint direction
    audio_tokens: int = 48        # time tokens over the (at least 3 s) sound: 16 merged the beeps of short clips,
    audio_time_stride: int = 2    # and 8 frames per conv step blurred their gaps: three beeps in 1.4 s read as four
    audio_mel_top_hz: float = 3600.0  # the mel filters stop below 4 kHz, so that a sound recorded at 8 kHz looks the
                                      # same as at 16 kHz (mean |log-mel change| 0.18 -> 0.0004 on 30 test sounds;
                                      # the world's pitches are 220-880 Hz). With filters up to 8 kHz, a recipe run
                                      # from scratch found 0.72 of test sounds at 8 kHz, 1.00 at 16 kHz
    audio_min_seconds: float = 1.5    # the time tokens span the sound's own length, at least this: with silence
                                      # trimmed (audio_trim_below_db), beeps of 0.05 s with 0.05 s gaps need tokens
                                      # of about 30 ms (3 s gave 62 ms)
    audio_trim_below_db: float | None = 30.0  # leading and trailing silence (30 dB below the loudest 20 ms) is cut
                                      # before encoding, in training and in the studio alike: people pad their sounds
    free_share: float = 0.6           # share of training pictures and sounds drawn the ways people draw and make
                                      # them (augment.people_style, SoundStyle.free_timing); the rest in the world's
                                      # own way, which the studio's examples and the eval's first column use
    audio_steps: int = 3000           # then the audio stage (tune_audio.py): the sound tower alone, the text tower
                                      # frozen. On the fourth run's weights, each followed by the sounds phase (en /
                                      # zh; beeps counted right in the training column | from the second
                                      # synthesiser; freely timed beeps described with their count, of 100):
                                      # none: 0.89 / 0.92 | 0.73 / 0.76; 54. 1,500 steps (and 600 of the sounds
                                      # phase): 0.98 / 0.97 | 0.86 / 0.81; 71. 3,000: 0.97 / 0.99 | 0.83 / 0.85; 79.
                                      # 3,000 with band-limited squares and coloured noise among the freely made
                                      # sounds: 0.99 / 1.00 | 0.87 / 0.86; 82 (second synthesiser's descriptions
                                      # 0.81 / 0.81 -> 0.83 / 0.81; noise 11 -> 12-13 of 13). 963 s on 2 cores
    audio_lr: float = 1e-3
    audio_free_share: float = 0.8     # free_share in the audio stage: freely timed beeps are what it is for
    audio_max_grad_norm: float = 5.0


@dataclass(frozen=True)
class LanguageStage:
    """The DeepSeek-V3 language model and the prefix bridge, trained together on every task, then on in a
    questions phase and a grounding phase."""

    scenes: int = 12000
    sounds: int = 4000
    steps: int = 1800             # the language phase: its loss had levelled off near 0.03 by step 1,500 of 2,500.
                                  # Runs from scratch answered 0.85 / 0.92 of picture questions at 1,800 steps and
                                  # 0.87 / 0.91 at 2,200 (94 minutes in all): 1,800 keeps the recipe within about
                                  # 90 minutes on two cores
    batch: int = 24
    pack_examples: bool = True    # the model runs on a batch's examples packed end to end in as few rows as the
                                  # longest one allows (modules/training/packing.py), each attending only to
                                  # itself: the same losses and gradients on about half the tokens (False: a
                                  # row each, padded to the longest)
    lr: float = 2e-3
    hidden: int = 256
    layers: int = 4
    dense_layers: int = 1          # first_k_dense_replace: the first layers keep a dense MLP
    routed_experts: int = 8
    experts_per_token: int = 2
    shared_experts: int = 1
    expert_width: int = 256
    dense_width: int = 768
    heads: int = 4
    kv_lora_rank: int = 64
    q_lora_rank: int = 96
    rope_dim: int = 16
    nope_dim: int = 32
    value_dim: int = 32
    context: int = 512
    image_global_tokens: int = 8    # prefix tokens made from the picture's pooled embedding (beside 9 patch cells)
    image_pool_margin: int = 1      # 8x8 patches less a 1-patch margin, pooled 2x2 -> 3x3 cells; the five places'
                                    # cells are the 2x2 blocks the encoder's attribute heads were trained on
    image_cell_bands: tuple[int, ...] | None = None   # else 3x3 cells over the whole grid ((3, 2, 3)): the
                                    # margin leaves out objects in the outer eighth of the frame. Linear
                                    # probes of the shipped tower, trained on the recipe's pictures and
                                    # tested on 600 of the second renderer's, named such objects' colour /
                                    # shape / size 0.77 / 0.37 / 0.79 from the margin's cells and 0.88 /
                                    # 0.49 / 0.86 from the bands', the others alike (0.89 / 0.63 / 0.89
                                    # and 0.90 / 0.63 / 0.89). Not yet trained through the language stages.
    bias_update_rate: float = 3e-3  # auxiliary-loss-free balancing: how fast each expert's bias moves per step
                                    # (2e-3 left the busiest expert at 2.01x the mean load on held-out text)
    balance_text_only: bool = True   # the balancing bias counts the text's tokens alone, not the picture and sound
                                     # prefixes': the bar is the load on held-out text (else prefixes and text
                                     # could balance each other while text leans on one expert)
    sequence_balance_weight: float = 0.003  # DeepSeek-V3's complementary sequence-wise balance loss (0: off)
    captions_by_place: bool = True   # caption targets list objects in reading order of their places (else shuffled)
    image_global_dropout: float = 0.5  # share of training pictures whose global tokens are hidden (cells only):
                                       # with none, the summary tokens overrode the cells and places came out wrong
                                       # (exact captions on 40 validation scenes: 0.575 at 0, 0.70 at 0.5, 0.15 at 0.8)
    cell_attribute_weight: float = 1.0  # colour, shape and size heads on each place's bridge cell (0: off). Without
                                        # them the model read shape, size and place from the cells but colour only
                                        # from the summary tokens (cells alone: every colour "green"); exact
                                        # captions on 100 test scenes 0.59/0.59 -> 0.97/0.99 (en/zh)
    audio_global_tokens: int = 4       # sound summary tokens read from all 48 time tokens with per-time weights:
                                       # a linear read of the flattened tokens counts beeps right 98 % of the time,
                                       # the sound embedding (a mean) 90 %; every-content descriptions 0.81/0.77 ->
                                       # 0.86/0.89 with 4 of them alone, 0.89/0.77 with the cell heads as well
    free_share: float = 0.6            # share of training pictures and sounds drawn and made the ways people do
                                       # (augment.people_style, SoundStyle.free_timing); the rest the world's way
    caption_share: float = 0.45        # of the picture turns that come with a request, the share asking for a
                                       # caption; the rest are questions
    questions_think_first: bool = False  # an answer to a question about a picture starts with the picture's notes
                                         # (every object and the background) between <think> and </think>, and a
                                         # tenth of the examples answer from given notes alone. Off: at 2,500 steps
                                         # the notes came out right but the answers did not follow them, even from
                                         # given notes without a picture (0.63 of 60). Picture Q&A: 0.69 of 200 test
                                         # questions without notes, 0.695 with, 0.63 of 60 with given notes as well
    question_steps: int = 2000         # then the questions phase ("questions" stage): the saved model trained on with
                                       # the fact heads and the next-token loss averaged per example, so that a short
                                       # answer counts as much as a long caption. Eval --limit 100 before -> after:
                                       # picture Q&A 0.70/0.68 -> 0.78/0.83 (background from chance to 26/26),
                                       # captions 0.97/0.99 -> 1.00/1.00, every-content sounds 0.89/0.77 ->
                                       # 0.90/0.94, busiest expert 1.94 -> 1.62. 1,000 steps with a caption share of
                                       # 0.45: Q&A 0.70/0.76. Yes/no questions stay near the odds of "No"
    question_lr: float = 5e-4
    question_caption_share: float = 0.25   # caption_share in the questions phase: more picture turns are questions
    fact_weight: float = 1.0           # heads naming every fact of the scene from the mean of its cells, and of the
                                       # sound from its summary tokens (questions phase only)
    grounding_steps: int = 2000        # then the grounding phase ("grounding" stage): one attention head learns to
                                       # look, from an answer, at the cells of the objects the question is about
                                       # (modules/training/grounding.py), with the questions phase's other losses
    grounding_weight: float = 2.0
    grounding_layer: int = 2           # which layer's head, counted from 0
    grounding_head: int = 0
    naming_weight: float = 2.0         # in the grounding phase, one more head learns to look from each question word
                                       # that names a colour or a shape at the objects that have it (0: off). Off,
                                       # every "Is there anything <colour>?" was answered "No"; picture Q&A
                                       # 0.84/0.88 -> 0.91/0.92 (weight 1: 0.88/0.91, busiest expert 1.91)
    caption_grounding_weight: float = 1.0   # in the grounding phase, the answer's head also learns to look, from
                                            # the words of a caption, at the cell of the object they describe
                                            # (0: off). On the places-phase picture tower, off -> on: exact
                                            # captions 0.96/0.97 -> 0.98/0.97 (English on another 100 test scenes
                                            # 92 -> 98; 86 for the weights before), picture Q&A 0.89/0.90 ->
                                            # 0.95/0.93 ("Where is the <object>?" 14 -> 17 of 19 in English)
    sound_steps: int = 300             # then the sounds phase ("sounds" stage): the bridge's sound half alone on
                                       # sound turns, the language model frozen (train_language.tune_sound_bridge).
                                       # Beeps counted right of 240 from any split (en / zh) after grounding: 222 / 224;
                                       # 600 steps: 226 / 226; 1,200: 227 / 229, and with each sound's time tokens
                                       # made from it alone (time_tokens_one_by_one): 230 / 230. On an earlier
                                       # grounding phase (223 / 222), 300 steps at 5e-4 with the fact head at 1
                                       # gave 223 / 223 (224 / 224 drawing from 40,000 sounds). The shipped
                                       # weights: 600 steps, 232 / 231 of the held-out 240 (226 / 225 for those
                                       # shipped before, 1,200 steps); 0.964 / 0.971 every-content -> 0.971 / 0.964.
                                       # 300 keeps the whole recipe within about 90 minutes
    sound_lr: float = 2e-3
    sound_fact_weight: float = 3.0     # the sound fact head's weight in the sounds phase
    sound_phase_sounds: int = 40000    # the sounds phase draws from this many training sounds (the others: `sounds`)
    place_readout_weight: float = 1.0  # in the grounding phase, a linear read of the answer's head output learns to
                                       # name the place of an answer about one place (grounding.PlaceReadoutLoss).
                                       # Off, over the same saved questions phase: "Where is ...?" 78 / 79 of 116
                                       # test questions right (en / zh), picture Q&A 0.87 / 0.91; on: 106 / 98,
                                       # 0.94 / 0.95
    naming_layer: int = 0
    naming_head: int = 1
    grounding_question_weights: tuple[tuple[str, float], ...] = (   # more of the questions that name an object by
        ("count", 1.0), ("background", 3.0), ("shape at a place", 1.0),    # what it is: those the head is for
        ("is there a shape", 2.0), ("is there a colour", 3.0), ("colour of a shape", 2.0),
        ("place of an object", 3.0))                                        # background at 3 (1 before): in the
                                                                            # sixth run the background questions
                                                                            # right fell from 28 to 19 of 48 here
    grounding_balanced_yes_no: bool = False  # "Is there anything red?" asks about a colour that is there half the
                                             # time. Off: drawn from all colours, "No" is right 70 % of the time.
                                             # Measured before the naming head, when colours were not found: on
                                             # gave picture Q&A 0.82/0.94 against 0.84/0.88, but the busiest expert
                                             # at 1.96 (1.67), three high beeps 6/10 in English (10/10), and the
                                             # example pictures' yes/no wrong
    grounding_balanced_places: bool = False  # "What shape is on the right?" asks about a place that holds an object
                                             # half the time (else "nothing" is right 60 % of the time)
    grounding_lookalikes: bool = False       # "Where is the blue star?" asks about an object that shares its colour
                                             # or shape with another where there is one (most wrong places named
                                             # are such a lookalike's). Both on, tried once, in a grounding phase of
                                             # 2,500 steps with no questions phase before it: picture Q&A 0.78 /
                                             # 0.92 against the recipe's 0.91 / 0.93; not told apart from the
                                             # missing questions phase


@dataclass(frozen=True)
class DecoderStage:
    """The latent diffusion decoder: a tiny VAE, then a tiny UNet conditioned on the CLIP text tower."""

    scenes: int = 6000
    picture_size: int = 128         # drawings' size (the picture tower judges them brought to its own 64 px): a
                                    # small star is 22 px across. At 64 px (every decoder shipped so far) a drawing
                                    # was shown enlarged, its edges soft
    vae_blocks: tuple[int, ...] = (16, 32, 64, 64, 64)   # channels per VAE level; 5 levels = 16x smaller latents,
                                    # so the UNet still works on 8x8 latents. A VAE step on 16 pictures: 64 px with
                                    # (32, 64, 64, 64) 1.7 s; 128 px with (32, 64, 64, 64, 64) 9.6 s, with these
                                    # 2.6 s (one thread, beside a training run)
    latent_channels: int = 8        # at 128 px an 8x8 latent cell stands for 16x16 pixels: with 4 channels the VAE
                                    # gave a green square back dark slate and a small star as a blob, and drawings'
                                    # colour and shape were right 0.57 (pixels; 0.80 by the picture encoder); with 8
                                    # both came back right (the UNet's step costs little more)
    vae_steps: int = 1200           # the whole VAE, on pixels and the perceptual distance (perceptual_from_start)
    vae_batch: int = 16
    vae_decoder_steps: int = 0      # then the VAE's decoder alone (latents unchanged) with the perceptual loss.
                                    # Learnt after 1,200 steps on pixels alone, 1,500 such steps were needed (47 %
                                    # of shapes had come back as another shape); with the perceptual loss from the
                                    # start, none: 1,200 steps gave 150 held-out pictures back with colour and shape
                                    # right (picture encoder and pixels) in 96 %, the two phases' VAE in 95 %
    perceptual_weight: float = 1.0  # the picture encoder's patch tokens of the reconstruction vs the original
    perceptual_from_start: bool = True    # the whole VAE's phase learns the perceptual distance too (else only
                                          # the decoder's phase does)
    unet_steps: int = 3500          # conditioned on the final image encoder's text tower: 4,000 steps drew the
                                    # asked colour and shape in 95 % of 60 held-out prompts, 6,000 in 98 % (judged
                                    # by the picture encoder and the pixels); 4,000 over this VAE with 24 prompt
                                    # tokens, 93 %. On a stale copy of an earlier text tower ("a red star" ~ "a red
                                    # triangle") it was 53 %. 3,500 so that the decoder, beside the language model,
                                    # ends no later than it does
    unet_batch: int = 64
    prompt_tokens: int = 24         # the text tower's tokens the UNet reads: prompts are padded and cut to this.
                                    # The world's drawing prompts take at most 20 (Chinese); 24 rather than 48 made
                                    # a UNet step 17 % shorter
    lr: float = 1e-3
    text_encoder_lr: float = 3e-4   # the decoder's own copy of the text tower learns beside the UNet at this rate
                                    # (0: frozen, as before). The picture-text training keeps shape in its pooled
                                    # embedding only weakly, and drawing requests are not captions: in one run the
                                    # frozen tower's tokens after "draw a red star" and "draw a red triangle" differed
                                    # by 6 % (71 % in the tower shipped before), and the UNet drew the asked shape
                                    # for 9 of 24 prompts


@dataclass(frozen=True)
class RewardWeights:
    """The think stage's rule-based rewards (modules/training/grpo_rewards.py): a reply's reward is the sum of the
    weights of the rules it meets."""

    correct: float = 1.0       # the answer after </think> passes the question's check (multistep.MultiStepItem.check)
    format: float = 0.5        # <think>…</think> then a non-empty answer, one of each tag
    language: float = 0.25     # the whole reply, thinking and answer, in the question's language


@dataclass(frozen=True)
class ColdStartStage:
    """A short supervised cold start before the think stage (modules/training/train_coldstart.py): the saved
    language model learns to write a short generated reasoning trace (think_traces.py), close </think> and answer,
    on train multi-step items, with ordinary one-step turns answered without thinking mixed in. Opt-in
    (`train --stage coldstart`, before `--stage think`)."""

    steps: int = 3000               # multi-step answers with thinking (40 validation items, greedy): 400 steps on the
                                    # fourth run's models took them from 0.00 to 0.225; 3,000 on the shipped models
                                    # (23 minutes on one thread beside another run) to 0.45, one-step picture answers
                                    # without thinking 0.81 -> 0.79
    batch: int = 8                  # examples per step: traces and one-step turns together
    one_step_share: float = 0.25    # of each batch, the share of one-step turns without thinking (2 of 8), drawn as
                                    # the language stage draws its examples (lm_data.sample_example, last turn):
                                    # rehearsal, so that answers without <think> keep what the language stages
                                    # taught while the traces move the same weights. A quarter keeps most of the
                                    # batch on the new skill; not yet measured against other shares
    lr: float = 3e-4                # cosine from this peak (the questions phase fine-tuned at 5e-4 with batch 24)
    warmup: int = 20
    max_grad_norm: float = 1.0
    bias_update_rate: float = 3e-3  # the experts' balancing bias moves as in the language stage (0: it stays)
    train_questions: int = 4000     # train multi-step items (trained wordings) the traces are written for
    one_step_scenes: int = 4000     # train scenes and sounds the one-step turns are drawn about
    one_step_sounds: int = 2000
    checkpoint_every: int = 50      # steps between resumable checkpoints in the work folder
    eval_questions: int = 40        # before and after: validation multi-step items (held-out wordings) and
    eval_one_step: int = 40         # validation one-step picture questions, per language
    max_reply_tokens: int = 96      # greedy replies in that measure are cut here (the think stage's reply limit)


@dataclass(frozen=True)
class ThinkStage:
    """The thinking mode, learnt the R1-Zero way (modules/training/train_thinking.py): group-relative policy
    optimisation on multi-step questions with rule-based rewards only, from the saved language model. Opt-in
    (`train --stage think`): not in the recipe's default stages until a measured run ships."""

    steps: int = 300
    questions_per_step: int = 4     # questions drawn per step, each answered group_size times
    group_size: int = 8             # G: replies sampled per question; advantages are relative to the group
    temperature: float = 1.0        # sampling temperature of the replies (R1-Zero's)
    max_reply_tokens: int = 96      # a reply is cut here (its thinking and answer together)
    lr: float = 1e-5
    kl_weight: float = 0.04         # beta: the KL penalty to the frozen starting model, per reply token
    clip: float = 0.2               # epsilon: the policy ratio is clipped to [1 - clip, 1 + clip]
    updates_per_step: int = 1       # policy updates on each step's replies (the ratio is 1 on the first)
    max_grad_norm: float = 1.0
    bias_update_rate: float = 3e-3  # the experts' balancing bias moves as in the language stage, from the experts
                                    # the replies' tokens went to in each policy update (0: it stays)
    rewards: RewardWeights = field(default_factory=RewardWeights)
    train_questions: int = 4000     # multi-step items of the train split drawn from (trained wordings)
    eval_every: int = 25            # held-out accuracy (validation items, held-out wordings, greedy) every so
    eval_questions: int = 60        # many steps, on this many questions
    checkpoint_every: int = 25      # steps between resumable checkpoints in the work folder


@dataclass(frozen=True)
class SuiteConfig:
    seed: int = 0
    vocab_size: int = 1536
    out_dir: Path = REPO_ROOT / "assets" / "mini"
    work_dir: Path = REPO_ROOT / ".cache" / "mini-training"   # resumable checkpoints; never committed
    encoders: EncoderStage = field(default_factory=EncoderStage)
    language: LanguageStage = field(default_factory=LanguageStage)
    decoder: DecoderStage = field(default_factory=DecoderStage)
    coldstart: ColdStartStage = field(default_factory=ColdStartStage)
    think: ThinkStage = field(default_factory=ThinkStage)
    decoder_beside_language: bool = True    # on a CPU, the decoder stage trains in a second process while the
                                            # language-model stages run, each on half the cores (mini.decoder_beside)
