"""Part 5, training - fine-tune a persona into a PEFT LoRA adapter.

The base model stays frozen; PEFT injects LoRA layers (the ones you built by hand in part 4) into the
attention projections, and only their ``A`` and ``B`` factors train. The result is an adapter of a few
megabytes that turns the base model into the character, and that ``PeftModel.from_pretrained`` (or a
chat service, part 6) loads on top of the same base model.

``train_adapter`` is a plain PyTorch loop, so that every step is visible: batches of the tokenized
examples from ``persona.tokenize_examples``, padded on the right, the causal-LM loss on the reply tokens
(labels ``-100`` elsewhere), AdamW on the trainable parameters only.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch
from peft import LoraConfig, PeftModel, TaskType, get_peft_model

DEFAULT_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj")


@dataclass
class TrainingResult:
    """What ``train_adapter`` did. ``model`` is the trained ``PeftModel`` (pass it to ``save_adapter``)."""

    model: Any
    losses: list[float]            # the training loss of every step, in order
    trainable_params: int          # parameters that received gradients: the LoRA factors only
    total_params: int              # all parameters of the wrapped model, base included
    tokens_per_second: float       # non-padding tokens processed per second of training
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)


def make_lora_config(r: int = 8, alpha: float = 16, dropout: float = 0.05,
                     target_modules: Sequence[str] = DEFAULT_TARGETS) -> LoraConfig:
    """A ``peft.LoraConfig`` for a causal language model: rank ``r``, ``lora_alpha=alpha``,
    ``lora_dropout=dropout``, LoRA on the linear layers named in ``target_modules``, no bias training.

    Raises ``ValueError`` when ``r < 1``, ``alpha <= 0``, ``dropout`` is outside ``[0, 1)`` or no target
    module is given.
    """
    # TODO: validate, then build the LoraConfig (task_type=TaskType.CAUSAL_LM)
    raise NotImplementedError('TODO: validate, then build the LoraConfig (task_type=TaskType.CAUSAL_LM)')


def train_adapter(model: Any, tokenizer: Any, dataset: Any, *, config: LoraConfig, steps: int, lr: float,
                  batch_size: int, seed: int, device: str = "cpu", gradient_checkpointing: bool = True) -> TrainingResult:
    """Wrap ``model`` with a LoRA adapter made from ``config`` and train the adapter for ``steps`` steps.

    - ``dataset`` has ``input_ids``, ``attention_mask`` and ``labels`` (``persona.tokenize_examples``);
      each step takes the next ``batch_size`` rows of a shuffled order (reshuffled when it runs out),
      pads them on the right (``tokenizer.pad_token_id``, attention 0, labels -100).
    - Only the adapter trains (AdamW, learning rate ``lr``, no weight decay, gradients clipped to norm 1);
      the base model's weights come out unchanged.
    - ``seed`` fixes everything random (the adapter's initialisation, dropout, the order of rows): two
      runs with the same seed on CPU give the same losses.
    - On CUDA the forward pass runs in bfloat16 autocast; a progress bar shows on a terminal.
    - ``gradient_checkpointing`` (optional to implement) recomputes each block's activations during the
      backward pass instead of keeping them: about a third more compute for far less memory.

    Raises ``ValueError`` for ``steps < 1``, ``batch_size < 1`` or an empty dataset.
    """
    # TODO: seed, wrap with get_peft_model, loop over steps: batch, forward, loss, backward, step
    raise NotImplementedError('TODO: seed, wrap with get_peft_model, loop over steps: batch, forward, loss, backward, step')


def save_adapter(model: Any, out_dir: str | Path) -> Path:
    """Save the adapter of a trained ``PeftModel`` in PEFT's format (``adapter_config.json`` and
    ``adapter_model.safetensors``: the LoRA factors only, never the base weights), loadable with
    ``PeftModel.from_pretrained(base_model, out_dir)``. Returns the folder. Raises ``TypeError`` when
    ``model`` is not a ``PeftModel``.
    """
    # TODO: PeftModel has a method for exactly this
    raise NotImplementedError('TODO: PeftModel has a method for exactly this')


@torch.no_grad()
def perplexity(model: Any, tokenizer: Any, texts: Sequence[str]) -> float:
    """``exp`` of the mean negative log-likelihood of every predicted token of every text.

    Each text is tokenized on its own (``tokenizer(text)["input_ids"]``, nothing added) and every token
    after its first is predicted from the ones before it; the mean is over all those tokens of all texts
    together (not a mean of per-text perplexities). Texts of fewer than two tokens predict nothing.
    Raises ``ValueError`` when there is no token to predict.
    """
    # TODO: sum the token losses and count the tokens over all texts, then exp(sum / count)
    raise NotImplementedError('TODO: sum the token losses and count the tokens over all texts, then exp(sum / count)')
