"""Probes for part ``service``: a ChatEngine over tiny adapters, its replies alone, interleaved and from
threads, how often it loads adapters, and its web API through an in-process test client.

The base model and every character's adapter are built here from seeds (``tiny_models`` plus PEFT with
non-zero ``B``), so every character answers differently and both sides of a comparison use identical
weights. Nothing listens on a socket: the API is called through ``fastapi.testclient.TestClient``.
"""

from __future__ import annotations

import tempfile
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import torch

from ..tiny_models import byte_tokenizer, tiny_llama


def _adapter(folder: Path, model_seed: int, seed: int) -> Path:
    from peft import LoraConfig, get_peft_model

    tokenizer = byte_tokenizer()
    torch.manual_seed(seed)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    get_peft_model(tiny_llama(model_seed, vocab_size=len(tokenizer)), config).save_pretrained(folder)
    return folder


@contextmanager
def _engine(module: Any, model_seed: int, characters: list[dict], device: str = "cpu") -> Iterator[Any]:
    """A student ChatEngine over freshly built adapters; ``characters``: ``{name, seed, system_prompt}``."""
    tokenizer = byte_tokenizer()
    with tempfile.TemporaryDirectory() as folder:
        cast = [module.Character(name=spec["name"], adapter_path=str(_adapter(Path(folder) / f"a{i}", model_seed,
                                                                                spec["seed"])),
                                 system_prompt=spec["system_prompt"], greeting=spec.get("greeting", ""))
                for i, spec in enumerate(characters)]
        model = tiny_llama(model_seed, vocab_size=len(tokenizer)).to(device)
        yield module.ChatEngine(model, tokenizer, cast)


def replies(module: Any, model_seed: int, characters: list[dict], requests: list[list], max_new_tokens: int,
            device: str = "cpu") -> dict:
    """``characters()`` and one greedy reply per ``[character, messages]`` request, in order."""
    with _engine(module, model_seed, characters, device) as engine:
        return {"characters": list(engine.characters()),
                "replies": [engine.reply(name, messages, max_new_tokens=max_new_tokens) for name, messages in requests]}


def concurrent(module: Any, model_seed: int, characters: list[dict], requests: list[list], max_new_tokens: int,
               rounds: int, threads: int) -> dict:
    """Each request once alone, then every request ``rounds`` times from ``threads`` threads at once."""
    with _engine(module, model_seed, characters) as engine:
        alone = [engine.reply(name, messages, max_new_tokens=max_new_tokens) for name, messages in requests]
        start = threading.Barrier(threads)

        def ask(index: int) -> tuple[int, str]:
            if index < threads:
                start.wait(timeout=30)   # the first wave really arrives together
            name, messages = requests[index % len(requests)]
            return index % len(requests), engine.reply(name, messages, max_new_tokens=max_new_tokens)

        with ThreadPoolExecutor(max_workers=threads) as pool:
            together = list(pool.map(ask, range(rounds * len(requests))))
    return {"alone": alone, "together": [[index, reply] for index, reply in together]}


def loads(module: Any, model_seed: int, characters: list[dict], requests: list[list], max_new_tokens: int) -> dict:
    """How many times adapter weights are read from disk while building the engine and while answering."""
    import peft.utils.save_and_load as peft_loading
    import safetensors.torch

    counts = {"construction": 0, "requests": 0}
    phase = ["construction"]
    original = safetensors.torch.load_file

    def counting(*args, **kwargs):
        counts[phase[0]] += 1
        return original(*args, **kwargs)

    # PEFT reads adapter weights through its own alias of safetensors' load_file
    patched = [(safetensors.torch, "load_file"), (peft_loading, "safe_load_file")]
    for owner, name in patched:
        setattr(owner, name, counting)
    try:
        with _engine(module, model_seed, characters) as engine:
            phase[0] = "requests"
            answered = [engine.reply(name, messages, max_new_tokens=max_new_tokens) for name, messages in requests]
    finally:
        for owner, name in patched:
            setattr(owner, name, original)
    return {**counts, "answered": len(answered)}


def http(module: Any, model_seed: int, characters: list[dict], calls: list[dict]) -> dict:
    """Each ``{method, path, json}`` call through a test client of ``create_app(engine)``, in order."""
    with warnings.catch_warnings():  # Starlette warns about its own httpx client; not the student's output
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    with _engine(module, model_seed, characters) as engine:
        client = TestClient(module.create_app(engine), raise_server_exceptions=False)
        responses = []
        for call in calls:
            response = client.request(call["method"], call["path"], json=call.get("json"))
            try:
                body = response.json()
            except ValueError:
                body = None
            responses.append({"status": response.status_code, "json": body,
                              "content_type": response.headers.get("content-type", ""),
                              "text": response.text[:4000] if body is None else ""})
        direct = [engine.reply(call["json"]["character"], call["json"]["messages"],
                               max_new_tokens=call["json"].get("max_new_tokens", 64))
                  for call in calls if call.get("expect_reply")]
    return {"responses": responses, "direct": direct}
