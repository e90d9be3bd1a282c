"""Facts about the notebook's adapter that the grading process computes itself, from exported tensors.

The notebook trains an adapter (question 8) and serves it (question 9) in its own kernel, where every
number it reports (losses, replies) is a claim. What crosses the sandbox boundary here is only the
adapter's tensors (``lora_A``/``lora_B``, as safetensors). This module checks that they are exactly the
adapter the question states (r=8, alpha=16, no dropout, on ``q_proj``/``k_proj``/``v_proj``/``o_proj``
of the notebook's tiny model: every name, shape and dtype), loads them with PEFT onto the grader's own
copy of that model (:mod:`autograder.runtime.tiny_models`, deterministic: the same weights the
notebook's kernel had), and computes the loss on the grader's batch and the greedy reply itself.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
from typing import Any

import torch

from ...runtime import tiny_models

# what questions 8 and 9 state, and what the notebook's `load_base_model` builds when TINY
RANK, ALPHA, TARGETS = 8, 16, ("q_proj", "k_proj", "v_proj", "o_proj")
MODEL_SEED, HIDDEN_SIZE = 0, 64


class BadAdapter(ValueError):
    """Exported tensors that are not the stated adapter (a missing or extra name, a wrong shape or dtype)."""


@functools.lru_cache(maxsize=1)
def _base() -> tuple[Any, Any]:
    tokenizer = tiny_models.byte_tokenizer()
    return tiny_models.tiny_llama(seed=MODEL_SEED, vocab_size=len(tokenizer), hidden_size=HIDDEN_SIZE), tokenizer


def _fresh_adapter() -> Any:
    """The base model wrapped with the stated, untrained adapter (``lora_B`` zero: the base's outputs)."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=RANK, lora_alpha=ALPHA, lora_dropout=0.0, target_modules=list(TARGETS), bias="none")
    with torch.random.fork_rng(devices=[]):   # PEFT draws lora_A at random: keep the grader's own stream
        return get_peft_model(copy.deepcopy(_base()[0]), config)


@functools.lru_cache(maxsize=1)
def _layout() -> dict[str, tuple[tuple[int, ...], torch.dtype]]:
    from peft import get_peft_model_state_dict

    return {name: (tuple(value.shape), value.dtype) for name, value in get_peft_model_state_dict(_fresh_adapter()).items()}


def validate(tensors: Any) -> dict[str, torch.Tensor]:
    """``tensors`` as the stated adapter's state dict (PEFT's saved names), or :class:`BadAdapter`."""
    layout = _layout()
    if not isinstance(tensors, dict) or set(tensors) != set(layout):
        raise BadAdapter("not the LoRA factors of r=8 on q_proj, k_proj, v_proj and o_proj")
    for name, (shape, dtype) in layout.items():
        value = tensors[name]
        if type(value) is not torch.Tensor or tuple(value.shape) != shape or value.dtype != dtype \
                or not bool(torch.isfinite(value).all()):
            raise BadAdapter(f"{name} is not a finite {dtype} tensor of shape {shape}")
    return tensors


def _key(*parts: Any) -> str:
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, dict):
            for name in sorted(part):
                digest.update(name.encode() + part[name].contiguous().numpy().tobytes())
        else:
            digest.update(json.dumps(part, sort_keys=True).encode())
    return digest.hexdigest()


_cache: dict[str, Any] = {}


def _memo(key: str, compute: Any) -> Any:
    if key not in _cache:
        if len(_cache) > 64:
            _cache.clear()
        _cache[key] = compute()
    return _cache[key]


def adapted(tensors: dict[str, torch.Tensor]) -> Any:
    """The grader's tiny model with the validated adapter ``tensors`` loaded by PEFT, in eval mode."""
    from peft import set_peft_model_state_dict

    model = _fresh_adapter()
    set_peft_model_state_dict(model, validate(tensors))
    return model.eval()


def rows(examples: list[dict], max_length: int) -> list[tuple[list[int], list[int]]]:
    """The grader's batch: per example, the chat template's token ids and labels only on the last
    message (``-100`` on the prompt), cut to ``max_length``, as ``persona.tokenize_examples`` states."""
    tokenizer, batch = _base()[1], []
    for example in examples:
        messages = example["messages"]
        prompt = list(tokenizer.apply_chat_template(messages[:-1], add_generation_prompt=True, tokenize=True,
                                                    return_dict=False))
        full = list(tokenizer.apply_chat_template(messages, tokenize=True, return_dict=False))
        batch.append((full[:max_length], ([-100] * len(prompt) + full[len(prompt):])[:max_length]))
    return batch


def loss(tensors: dict[str, torch.Tensor] | None, examples: list[dict], max_length: int) -> float:
    """The mean loss on the reply tokens of ``examples`` (the chat template, labels only on the last
    message, cut to ``max_length``), of the base model (``tensors`` None) or with that adapter."""
    def compute() -> float:
        model = _base()[0] if tensors is None else adapted(tensors)
        with torch.no_grad():
            losses = [float(model(input_ids=torch.tensor([ids]), labels=torch.tensor([labels])).loss)
                      for ids, labels in rows(examples, max_length)]
        return sum(losses) / len(losses)

    return _memo(_key("loss", tensors or {}, examples, max_length), compute)


def reply(tensors: dict[str, torch.Tensor], messages: list[dict], max_new_tokens: int) -> str:
    """The greedy reply of the adapter ``tensors`` to ``messages`` (system prompt first): the chat
    template with the generation prompt, at most ``max_new_tokens`` new tokens, stopped at the end of
    turn, decoded without special tokens and stripped, as ``ChatEngine.reply`` states."""
    def compute() -> str:
        model, tokenizer = adapted(tensors), _base()[1]
        ids = torch.tensor([list(tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                                               return_dict=False))])
        with torch.no_grad():
            out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens,
                                 do_sample=False, eos_token_id=tokenizer.eos_token_id,
                                 pad_token_id=tokenizer.pad_token_id)
        return tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True).strip()

    return _memo(_key("reply", tensors, messages, max_new_tokens), compute)
