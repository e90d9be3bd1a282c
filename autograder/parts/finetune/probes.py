"""Probes for part ``finetune``: tokenizing chat examples, the LoRA config, training an adapter on a
tiny random Llama, saving and reloading it, and perplexity.

Every model and tokenizer is built here from a seed (``tiny_models``), so the student's side and the
reference's side work on identical weights without sharing a file. The probes build the ``LoraConfig``
for training themselves: a wrong ``make_lora_config`` costs only the check of the config.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import torch

from ...runtime.tiny_models import byte_tokenizer, tiny_llama


def tokenize(module: Any, examples: list, max_length: int) -> dict:
    """``tokenize_examples`` with the byte-level chat tokenizer: the type and columns of what came back,
    read through ``datasets.Dataset``'s own methods (a subclass cannot change what its columns read as)."""
    from datasets import Dataset

    dataset = module.tokenize_examples(examples, byte_tokenizer(), max_length)
    kind = f"{type(dataset).__module__}.{type(dataset).__qualname__}"
    if not isinstance(dataset, Dataset):
        return {"type": kind, "columns": [], "rows": {}}
    columns = [str(name) for name in Dataset.column_names.fget(dataset)]
    rows = {name: [[int(token) for token in row] for row in Dataset.__getitem__(dataset, name)]
            for name in ("input_ids", "attention_mask", "labels") if name in columns}
    return {"type": kind, "columns": columns, "rows": rows}


def lora_config(module: Any, kwargs: dict) -> dict:
    """The fields of ``make_lora_config(**kwargs)`` that decide what PEFT builds."""
    config = module.make_lora_config(**kwargs)
    targets = getattr(config, "target_modules", None)
    return {"type": type(config).__name__, "r": getattr(config, "r", None),
            "lora_alpha": getattr(config, "lora_alpha", None), "lora_dropout": getattr(config, "lora_dropout", None),
            "target_modules": sorted(targets) if isinstance(targets, (set, list, tuple)) else targets,
            "task_type": str(getattr(config, "task_type", None)), "bias": getattr(config, "bias", None)}


def _dataset(texts: list[str], tokenizer):
    """Rows whose labels train on the second half of each text (a stand-in for the reply)."""
    from datasets import Dataset

    rows: dict[str, list] = {"input_ids": [], "attention_mask": [], "labels": []}
    for text in texts:
        ids = tokenizer(text)["input_ids"]
        half = len(ids) // 2
        rows["input_ids"].append(ids)
        rows["attention_mask"].append([1] * len(ids))
        rows["labels"].append([-100] * half + ids[half:])
    return Dataset.from_dict(rows)


def _config(r: int, alpha: float, targets: list[str]):
    from peft import LoraConfig, TaskType

    return LoraConfig(r=r, lora_alpha=alpha, lora_dropout=0.0, target_modules=list(targets), bias="none",
                      task_type=TaskType.CAUSAL_LM)


def _train(module: Any, model_seed: int, texts: list[str], steps: int, lr: float, batch_size: int, seed: int,
           r: int, alpha: float, targets: list[str]) -> tuple[Any, Any, dict]:
    tokenizer = byte_tokenizer()
    model = tiny_llama(model_seed, vocab_size=len(tokenizer))
    base = dict(model.named_parameters())
    result = module.train_adapter(model, tokenizer, _dataset(texts, tokenizer), config=_config(r, alpha, targets),
                                  steps=steps, lr=lr, batch_size=batch_size, seed=seed)
    # raw tensors only: the grading process compares them with its own base model and recomputes losses
    return result, tokenizer, {"base_after": {name: parameter.detach().clone() for name, parameter in base.items()},
                               "adapter": adapter_tensors(getattr(result, "model", None))}


def adapter_tensors(model: Any) -> dict:
    """The LoRA factors of a trained model, by state-dict name, as plain tensors (the grader loads them
    into its own copy of the base model to recompute the loss)."""
    if not isinstance(model, torch.nn.Module):
        return {}
    return {name: tensor.detach().to("cpu", torch.float32).clone() for name, tensor in model.state_dict().items()
            if "lora_" in name and isinstance(tensor, torch.Tensor)}


def _numbers(values: Any) -> list | None:
    if isinstance(values, (list, tuple)) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return [float(v) for v in values]
    return None


def train(module: Any, model_seed: int, texts: list[str], steps: int, lr: float, batch_size: int, seed: int,
          r: int, alpha: float, targets: list[str], repeat: bool = False) -> dict:
    """Train an adapter on the tiny model; what trained, the losses, and the losses of a second run with
    the same seed when ``repeat``."""
    result, _, seen = _train(module, model_seed, texts, steps, lr, batch_size, seed, r, alpha, targets)
    model = getattr(result, "model", None)
    named = list(model.named_parameters()) if isinstance(model, torch.nn.Module) else []
    trainable = [(name, p) for name, p in named if p.requires_grad]
    losses = getattr(result, "losses", None)
    report = {**seen, "losses": _numbers(losses),
              "losses_kind": f"{type(losses).__name__} of {sorted({type(v).__name__ for v in losses})}"
              if isinstance(losses, (list, tuple)) else type(losses).__name__,
              "trainable_params": getattr(result, "trainable_params", None),
              "total_params": getattr(result, "total_params", None),
              "tokens_per_second": getattr(result, "tokens_per_second", None),
              "model_type": type(model).__name__,
              "requires_grad_lora": sum(p.numel() for name, p in trainable if "lora_" in name),
              "requires_grad_other": [name for name, _ in trainable if "lora_" not in name][:5],
              "total_in_model": sum(p.numel() for _, p in named)}
    if repeat:
        again, _, _ = _train(module, model_seed, texts, steps, lr, batch_size, seed, r, alpha, targets)
        report["repeat_losses"] = _numbers(getattr(again, "losses", None))
    return report


ADAPTER_BYTES = 16 * 2**20   # an adapter file read back at most (the tiny model's whole weights are far less)


def seeded_adapter(model_seed: int, seed: int, r: int, alpha: float, targets: list[str]):
    """The tiny model wrapped by PEFT with an adapter whose factors are drawn from ``seed`` (``lora_B``
    non-zero, so the adapter changes every output): identical on both sides of a comparison."""
    from peft import LoraConfig, TaskType, get_peft_model

    tokenizer = byte_tokenizer()
    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=0.0, target_modules=list(targets), bias="none",
                        task_type=TaskType.CAUSAL_LM, init_lora_weights=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return get_peft_model(tiny_llama(model_seed, vocab_size=len(tokenizer)), config)


def save_and_load(module: Any, model_seed: int, seed: int, r: int, alpha: float, targets: list[str],
                  **_: Any) -> dict:
    """``save_adapter`` on a PeftModel with a seeded adapter; what it wrote, as data: the files' sizes,
    the config's fields and the adapter file's tensors. The grading process loads those tensors onto its
    own copy of the tiny model itself (a reload here would be a claim)."""
    from safetensors.torch import load_file

    model = seeded_adapter(model_seed, seed, r, alpha, targets)
    with tempfile.TemporaryDirectory() as folder:
        module.save_adapter(model, folder)
        files = {path.name: path.stat().st_size for path in Path(folder).iterdir() if path.is_file()}
        config, tensors = None, None
        if 0 < files.get("adapter_config.json", 0) <= 2**16:
            loaded = json.loads((Path(folder) / "adapter_config.json").read_text())
            if isinstance(loaded, dict):
                config = {key: loaded.get(key) for key in ("peft_type", "r", "lora_alpha", "target_modules", "task_type")}
        if 0 < files.get("adapter_model.safetensors", 0) <= ADAPTER_BYTES:
            tensors = load_file(str(Path(folder) / "adapter_model.safetensors"))
    return {"files": files, "config": config, "tensors": tensors}


def perplexity(module: Any, model_seed: int, texts: list[str]) -> dict:
    """``perplexity`` of the tiny model on ``texts``."""
    tokenizer = byte_tokenizer()
    model = tiny_llama(model_seed, vocab_size=len(tokenizer))
    return {"result": module.perplexity(model, tokenizer, texts)}


def gpu_config():
    """The LoRA config of the GPU run (SmolLM2's attention projections, r=8, alpha=16)."""
    return _config(8, 16, ["q_proj", "k_proj", "v_proj", "o_proj"])


def gpu_texts(texts: list[str], max_length: int) -> list[str]:
    return [text[: max_length * 4] for text in texts]


def train_gpu(module: Any, model_folder: str, texts: list[str], steps: int, batch_size: int, max_length: int,
              lr: float = 2e-4, device: str = "cuda") -> dict:
    """``steps`` steps of a LoRA adapter on a real model on ``device`` (bf16 on CUDA; the CPU for a
    rehearsal): the losses, the speed and the trained adapter's factors."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_folder)
    model = AutoModelForCausalLM.from_pretrained(model_folder, dtype=torch.float32)
    dataset = _dataset(gpu_texts(texts, max_length), tokenizer)
    result = module.train_adapter(model, tokenizer, dataset, config=gpu_config(),
                                  steps=steps, lr=lr, batch_size=batch_size, seed=0, device=device)
    return {"losses": _numbers(getattr(result, "losses", None)),
            "tokens_per_second": getattr(result, "tokens_per_second", None),
            "device": torch.cuda.get_device_name(0) if device == "cuda" else device,
            "adapter": adapter_tensors(getattr(result, "model", None))}
