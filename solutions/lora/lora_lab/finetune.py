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
    # BEGIN SOLUTION
    if r < 1:
        raise ValueError(f"r must be at least 1, got {r}")
    if alpha <= 0:
        raise ValueError(f"alpha must be positive, got {alpha}")
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    if isinstance(target_modules, str) or not target_modules:
        raise ValueError(f"target_modules must be a non-empty list of module names, got {target_modules!r}")
    return LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=list(target_modules),
                      bias="none", task_type=TaskType.CAUSAL_LM)
    # END SOLUTION


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
    # BEGIN SOLUTION
    if steps < 1 or batch_size < 1:
        raise ValueError(f"steps and batch_size must be at least 1, got steps={steps}, batch_size={batch_size}")
    if len(dataset) == 0:
        raise ValueError("the dataset is empty: no example has a reply token to train on")
    torch.manual_seed(seed)
    peft_model = model if isinstance(model, PeftModel) else get_peft_model(model, config)
    if gradient_checkpointing:
        enable_gradient_checkpointing(peft_model)
    peft_model.to(device)
    peft_model.train()
    trainable = [p for p in peft_model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=lr, weight_decay=0.0)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    order = _Order(len(dataset), seed)
    losses, tokens = [], 0
    started = time.perf_counter()
    for _ in _progress(range(steps), "training"):
        batch = _pad([dataset[index] for index in order.take(batch_size)], pad_id, device)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.startswith("cuda")):
            loss = reply_loss(peft_model, batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
        tokens += int(batch["attention_mask"].sum())
    seconds = time.perf_counter() - started
    peft_model.eval()
    return TrainingResult(model=peft_model, losses=losses, trainable_params=sum(p.numel() for p in trainable),
                          total_params=sum(p.numel() for p in peft_model.parameters()),
                          tokens_per_second=tokens / seconds if seconds else 0.0, seconds=seconds)
    # END SOLUTION


def save_adapter(model: Any, out_dir: str | Path) -> Path:
    """Save the adapter of a trained ``PeftModel`` in PEFT's format (``adapter_config.json`` and
    ``adapter_model.safetensors``: the LoRA factors only, never the base weights), loadable with
    ``PeftModel.from_pretrained(base_model, out_dir)``. Returns the folder. Raises ``TypeError`` when
    ``model`` is not a ``PeftModel``.
    """
    # TODO: PeftModel has a method for exactly this
    # BEGIN SOLUTION
    if not isinstance(model, PeftModel):
        raise TypeError(f"save_adapter needs the PeftModel that train_adapter returned, got {type(model).__name__}")
    out_dir = Path(out_dir)
    model.save_pretrained(out_dir)
    return out_dir
    # END SOLUTION


@torch.no_grad()
def perplexity(model: Any, tokenizer: Any, texts: Sequence[str]) -> float:
    """``exp`` of the mean negative log-likelihood of every predicted token of every text.

    Each text is tokenized on its own (``tokenizer(text)["input_ids"]``, nothing added) and every token
    after its first is predicted from the ones before it; the mean is over all those tokens of all texts
    together (not a mean of per-text perplexities). Texts of fewer than two tokens predict nothing.
    Raises ``ValueError`` when there is no token to predict.
    """
    # TODO: sum the token losses and count the tokens over all texts, then exp(sum / count)
    # BEGIN SOLUTION
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    total, count = 0.0, 0
    for text in texts:
        ids = tokenizer(text)["input_ids"]
        if len(ids) < 2:
            continue
        input_ids = torch.tensor([ids], device=device)
        logits = model(input_ids=input_ids).logits[0, :-1].float()
        total += torch.nn.functional.cross_entropy(logits, input_ids[0, 1:], reduction="sum").item()
        count += len(ids) - 1
    model.train(was_training)
    if count == 0:
        raise ValueError("perplexity needs at least one text of two or more tokens")
    return math.exp(total / count)
    # END SOLUTION


# BEGIN SOLUTION
def reply_loss(model: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Mean cross-entropy of the labelled tokens, computing logits only where there is a label.

    ``model(**batch).loss`` gives the same number, but first makes logits for every position:
    batch x length x vocabulary floats (4 x 128 x 49k = 100 MB for SmolLM2, twice with their gradient),
    most of them on prompt and padding tokens that carry no loss. Taking the hidden states and projecting
    only the labelled positions makes training memory depend on the reply length instead.
    """
    base = model.get_base_model() if isinstance(model, PeftModel) else model
    # use_cache=False: a training step never reuses keys and values, so building a cache only costs memory
    hidden = base.get_decoder()(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                                use_cache=False).last_hidden_state
    targets = batch["labels"][:, 1:]
    keep = targets != -100
    logits = base.get_output_embeddings()(hidden[:, :-1][keep])
    return torch.nn.functional.cross_entropy(logits.float(), targets[keep])


def enable_gradient_checkpointing(model: Any) -> None:
    """Keep only each block's input for the backward pass and recompute the rest.

    With LoRA the weights, their (few) gradients and AdamW's state are small, so the activations kept for
    the backward pass dominate training memory; non-reentrant checkpointing works with frozen inputs and
    replays dropout with the same random numbers, so training stays deterministic.
    """
    base = model.get_base_model() if isinstance(model, PeftModel) else model
    base.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})


class _Order:
    """Row indices in a seeded shuffled order, reshuffled each time it runs out."""

    def __init__(self, size: int, seed: int) -> None:
        self.size, self.queue = size, []
        self.generator = torch.Generator().manual_seed(seed)

    def take(self, count: int) -> list[int]:
        taken = []
        while len(taken) < count:
            if not self.queue:
                self.queue = torch.randperm(self.size, generator=self.generator).tolist()
            taken.append(self.queue.pop(0))
        return taken


def _pad(rows: list[dict], pad_id: int, device: str) -> dict[str, torch.Tensor]:
    width = max(len(row["input_ids"]) for row in rows)

    def column(name: str, fill: int) -> torch.Tensor:
        return torch.tensor([row[name] + [fill] * (width - len(row[name])) for row in rows], device=device)

    return {"input_ids": column("input_ids", pad_id), "attention_mask": column("attention_mask", 0),
            "labels": column("labels", -100)}


def _progress(iterable, description: str):
    """A tqdm progress bar on a terminal, the plain iterable elsewhere (logs, the grader)."""
    if not sys.stderr.isatty():
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=description, unit="step")
# END SOLUTION
