"""A finetune.py whose training loop uses transformers' own loss: model(**batch).loss on a padded batch.

Written independently of the reference: a collate function of its own (right padding with the pad token,
attention 0 and labels -100), an epoch-wise shuffle from a seeded random.Random, the full logits and the
loss that LlamaForCausalLM computes from the labels, parameter counts from PEFT's
get_nb_trainable_parameters, and perplexity from the model's loss with labels = input_ids. Full marks
for it show that the hidden checks accept any correct training loop, not only the reference's
hidden-state trick.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch
from peft import LoraConfig, PeftModel, TaskType, get_peft_model

ALTERNATE_FOR = "finetune"

DEFAULT_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj")


@dataclass
class TrainingResult:
    model: Any
    losses: list[float]
    trainable_params: int
    total_params: int
    tokens_per_second: float
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)


def make_lora_config(r: int = 8, alpha: float = 16, dropout: float = 0.05,
                     target_modules: Sequence[str] = DEFAULT_TARGETS) -> LoraConfig:
    problems = []
    if not r >= 1:
        problems.append(f"r={r} (must be >= 1)")
    if not alpha > 0:
        problems.append(f"alpha={alpha} (must be > 0)")
    if not (dropout >= 0 and dropout < 1):
        problems.append(f"dropout={dropout} (must be in [0, 1))")
    targets = [target_modules] if isinstance(target_modules, str) else list(target_modules)
    if isinstance(target_modules, str) or len(targets) == 0:
        problems.append(f"target_modules={target_modules!r} (must be a non-empty list)")
    if problems:
        raise ValueError("invalid LoRA settings: " + ", ".join(problems))
    settings = {"task_type": TaskType.CAUSAL_LM, "r": r, "lora_alpha": alpha, "lora_dropout": dropout,
                "target_modules": targets, "bias": "none"}
    return LoraConfig(**settings)


def _collate(rows: list[dict], pad_id: int) -> dict[str, torch.Tensor]:
    longest = max(len(row["input_ids"]) for row in rows)
    input_ids = torch.full((len(rows), longest), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), longest), dtype=torch.long)
    labels = torch.full((len(rows), longest), -100, dtype=torch.long)
    for number, row in enumerate(rows):
        length = len(row["input_ids"])
        input_ids[number, :length] = torch.tensor(row["input_ids"])
        attention_mask[number, :length] = torch.tensor(row["attention_mask"])
        labels[number, :length] = torch.tensor(row["labels"])
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}


def _batches(size: int, batch_size: int, seed: int):
    """Endless batches of row indices: each epoch a fresh shuffle from one seeded generator."""
    shuffler = random.Random(seed)
    pending: list[int] = []
    while True:
        batch = []
        while len(batch) < batch_size:
            if not pending:
                pending = list(range(size))
                shuffler.shuffle(pending)
            batch.append(pending.pop())
        yield batch


def train_adapter(model: Any, tokenizer: Any, dataset: Any, *, config: LoraConfig, steps: int, lr: float,
                  batch_size: int, seed: int, device: str = "cpu", gradient_checkpointing: bool = True) -> TrainingResult:
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if len(dataset) == 0:
        raise ValueError("cannot train on an empty dataset")
    torch.manual_seed(seed)
    if not isinstance(model, PeftModel):
        model = get_peft_model(model, config)
    if gradient_checkpointing:
        # non-reentrant checkpointing needs no input that requires grad and replays dropout exactly
        model.get_base_model().gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model = model.to(device)
    model.train()
    parameters = [parameter for parameter in model.parameters() if parameter.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=lr, weight_decay=0.0)
    pad_id = tokenizer.pad_token_id
    if pad_id is None:
        pad_id = tokenizer.eos_token_id
    rows = [dataset[index] for index in range(len(dataset))]
    batches = _batches(len(rows), batch_size, seed)
    losses: list[float] = []
    seen_tokens = 0
    use_bf16 = torch.device(device).type == "cuda"
    clock = time.monotonic()
    for _ in range(steps):
        batch = {name: tensor.to(device) for name, tensor in _collate([rows[i] for i in next(batches)], pad_id).items()}
        optimizer.zero_grad()
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=use_bf16):
            output = model(**batch)
        output.loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, max_norm=1.0)
        optimizer.step()
        losses.append(float(output.loss.detach()))
        seen_tokens += int(batch["attention_mask"].sum().item())
    elapsed = time.monotonic() - clock
    model.eval()
    trainable, total = model.get_nb_trainable_parameters()
    return TrainingResult(model=model, losses=losses, trainable_params=int(trainable), total_params=int(total),
                          tokens_per_second=seen_tokens / max(elapsed, 1e-9), seconds=elapsed)


def save_adapter(model: Any, out_dir: str | Path) -> Path:
    if not isinstance(model, PeftModel):
        raise TypeError("save_adapter expects a PeftModel")
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(folder), safe_serialization=True)
    return folder


def perplexity(model: Any, tokenizer: Any, texts: Sequence[str]) -> float:
    mode = model.training
    model.eval()
    device = next(model.parameters()).device
    nll, predicted = 0.0, 0
    try:
        with torch.no_grad():
            for text in texts:
                ids = list(tokenizer(text)["input_ids"])
                if len(ids) < 2:
                    continue
                tensor = torch.tensor(ids, device=device).unsqueeze(0)
                mean = model(input_ids=tensor, labels=tensor).loss.double().item()
                nll += mean * (len(ids) - 1)
                predicted += len(ids) - 1
    finally:
        model.train(mode)
    if not predicted:
        raise ValueError("no text has a token to predict")
    return math.exp(nll / predicted)
