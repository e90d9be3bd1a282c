"""Probes for part ``service``: a ChatEngine over tiny adapters, its replies alone, interleaved and from
threads, over adapter files whose opens the grader counts, and its web API served on a Unix socket in
``out/``, to which the grading process itself sends the requests (``ProbeCall.served``).

The base model and every character's adapter are built here from seeds (``tiny_models`` plus PEFT with
non-zero ``B``), so every character answers differently and both sides of a comparison use identical
weights. The worker has no network: the app listens on ``out/NNNN.sock`` alone, and only while the
grader queries it.
"""

from __future__ import annotations

import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import torch

from ...runtime.common import await_inputs
from ...runtime.tiny_models import byte_tokenizer, tiny_llama


def _adapter(folder: Path, model_seed: int, seed: int) -> Path:
    from peft import LoraConfig, get_peft_model

    tokenizer = byte_tokenizer()
    torch.manual_seed(seed)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    get_peft_model(tiny_llama(model_seed, vocab_size=len(tokenizer)), config).save_pretrained(folder)
    return folder


def adapter_files(folder: Path, model_seed: int, characters: list[dict], **_: Any) -> None:
    """Grader side (``ProbeCall.inputs``): character ``i``'s adapter into ``folder/a<i>``."""
    for i, spec in enumerate(characters):
        _adapter(folder / f"a{i}", model_seed, spec["seed"])


@contextmanager
def _engine(module: Any, model_seed: int, characters: list[dict], device: str = "cpu",
            inputs: str | None = None) -> Iterator[Any]:
    """A student ChatEngine over the adapters in ``inputs`` (see ``adapter_files``), or over freshly built
    ones; ``characters``: ``{name, seed, system_prompt}``."""
    tokenizer = byte_tokenizer()
    with tempfile.TemporaryDirectory() as folder:
        if inputs is None:
            adapter_files(Path(folder), model_seed, characters)
        root = Path(inputs or folder)
        cast = [module.Character(name=spec["name"], adapter_path=str(root / f"a{i}"),
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


def concurrent(module: Any, model_seed: int, characters: list[dict], alone: list[list], requests: list[list],
               max_new_tokens: int, threads: int) -> dict:
    """The ``alone`` requests one at a time, then every one of ``requests`` once, from ``threads`` threads
    at once (the first wave released together); all are different, so no reply can repeat an earlier one."""
    with _engine(module, model_seed, characters) as engine:
        serial = [engine.reply(name, messages, max_new_tokens=max_new_tokens) for name, messages in alone]
        start = threading.Barrier(threads)

        def ask(index: int) -> str:
            if index < threads:
                start.wait(timeout=30)   # the first wave really arrives together
            name, messages = requests[index]
            return engine.reply(name, messages, max_new_tokens=max_new_tokens)

        with ThreadPoolExecutor(max_workers=threads) as pool:
            together = list(pool.map(ask, range(len(requests))))
    return {"alone": serial, "together": together}


def loads(module: Any, model_seed: int, characters: list[dict], requests: list[list], max_new_tokens: int,
          inputs: str) -> dict:
    """An engine over the grader's adapter files in ``inputs``, then one reply per request. How often each
    file is opened is counted by the grading process (inotify), not here."""
    with _engine(module, model_seed, characters, inputs=inputs) as engine:
        return {"replies": [engine.reply(name, messages, max_new_tokens=max_new_tokens) for name, messages in requests]}


def requests(calls: list[dict], **_: Any) -> list[dict]:
    """Grader side (``ProbeCall.served`` of :func:`http`): the ``{method, path, json}`` requests that the
    grading process sends to the app the probe serves."""
    return [{"method": call["method"], "path": call["path"], "json": call.get("json")} for call in calls]


SERVE_SECONDS = 20.0    # for the server to start listening
STOP_SECONDS = 150.0    # for the grader to send its requests and say stop


def _serve(app: Any, address: str) -> Any:
    """``app`` served by uvicorn on the Unix socket ``address``, from a thread; returns the server once
    it listens (``server.should_exit = True`` stops it)."""
    import time

    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, uds=address, log_level="critical", access_log=False,
                                           timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, name="served-app", daemon=True)
    thread.start()
    deadline = time.monotonic() + SERVE_SECONDS
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the app could not be served on {Path(address).name} (uvicorn did not start)")
        time.sleep(0.01)
    server.thread = thread
    return server


def http(module: Any, model_seed: int, characters: list[dict], calls: list[dict], inputs: str | None = None,
         request: str | None = None) -> dict:
    """``create_app(engine)`` served on the Unix socket ``out/NNNN.sock`` (beside ``request``) until the
    grading process, which sends the ``{method, path, json}`` calls itself and reads the answers
    (``Outcome.observed["grant"]["served"]``), says stop; then the engine's own reply to each call marked
    ``expect_reply``. The reference (no ``request``) is not served: its replies alone."""
    with _engine(module, model_seed, characters) as engine:
        if request is not None:
            server = _serve(module.create_app(engine), request.removesuffix(".request") + ".sock")
            try:
                await_inputs(inputs, request, seconds=STOP_SECONDS)   # {"stop": true}
            finally:
                server.should_exit = True
                server.thread.join(timeout=5)
        direct = [engine.reply(call["json"]["character"], call["json"]["messages"],
                               max_new_tokens=call["json"].get("max_new_tokens", 64))
                  for call in calls if call.get("expect_reply")]
    return {"direct": direct}
