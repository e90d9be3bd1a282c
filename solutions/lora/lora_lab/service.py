"""Part 6, serving - one base model, many characters: a chat service that switches LoRA adapters.

A persona adapter (part 5) is a few megabytes of ``A`` and ``B`` factors; the base model is hundreds of
megabytes. So a service that speaks as Holmes, Juliet and Alice loads the base model *once* and every
adapter *once*, into one ``PeftModel`` (``PeftModel.from_pretrained`` for the first adapter,
``load_adapter`` for the others), and picks the adapter of each request when it generates. Switching
characters then reads no file and copies no weight: it only decides which ``B A x`` is added to ``W0 x``.

The catch is concurrency. A web server answers several people at once, from several threads, but the
adapter that a ``PeftModel`` uses is *global state*: ``set_adapter`` changes it on every LoRA layer of
the shared model. Two threads that each call ``set_adapter`` then ``generate`` can interleave, and
Holmes's user gets Juliet's reply. (PEFT can mix adapters in one batch, ``generate(...,
adapter_names=[...])``, but even that registers hooks on the shared layers for the duration of the call,
so two such calls at the same time still race.) Whatever the design, only one generation may touch the
model at a time: a lock around "choose the adapter, generate", or a single worker thread that owns the
model and serves requests from a queue. See ``ChatEngine``'s docstring for the trade-off.

The web side is a small FastAPI app (``create_app``) with a JSON API and a one-page chat client
(``chat.html``, next to this file):

- ``GET /api/characters`` -> ``[{"name": ..., "greeting": ...}, ...]`` in the engine's order;
- ``POST /api/chat`` with ``{"character": str, "messages": [{"role": "user" | "assistant",
  "content": str}, ...], "max_new_tokens": int (optional, 1..512, default 64)}`` ->
  ``{"character": ..., "reply": ...}``;
- ``GET /healthz`` -> ``{"status": "ok", "characters": <how many>}``;
- ``GET /`` -> the chat page.

(The reference also streams, ``POST /api/chat/stream``: the same body, the reply as server-sent events
``data: {"token": ...}`` then ``data: {"done": true, "reply": ...}``; and counts, ``GET /api/metrics``.
Neither is graded; the page falls back to ``/api/chat`` where there is no stream.)

Errors are JSON objects with an ``"error"`` message: an unknown character is ``404`` (the message names
the known ones), a message longer than ``max_message_chars`` is ``413``, and an exception inside the
engine is ``500``, after which the server goes on serving. A malformed body (a missing field, a wrong
type, a role other than user/assistant, no message, ``max_new_tokens`` outside 1..512) is ``422``;
FastAPI's own validation answer, ``{"detail": [...]}``, is fine there.
"""

# No ``from __future__ import annotations`` here: FastAPI reads the annotations of the route functions
# to validate request bodies, and string annotations naming classes defined inside ``create_app`` (a
# pydantic model, for instance) could not be resolved from the module's globals.

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from peft import PeftModel

DEFAULT_MAX_NEW_TOKENS = 64
MAX_NEW_TOKENS_LIMIT = 512          # the largest max_new_tokens the API accepts
ROLES = ("user", "assistant")       # the roles a client may send; the system prompt is the character's
PAGE = Path(__file__).with_name("chat.html")
TRAIN_HINT = "course persona train --character {name}"

# BEGIN SOLUTION
import json
import math
import queue
import re
import time
from collections import OrderedDict, deque
from concurrent.futures import CancelledError, Future

from peft.tuners.tuners_utils import BaseTunerLayer
from transformers import StoppingCriteria, StoppingCriteriaList
from transformers.generation.streamers import BaseStreamer

BATCH_WINDOW_S = 0.005   # how long the worker waits for more requests to join a batch
IDLE_EXIT_S = 5.0        # the worker thread ends after this long without work (a new request restarts it)
LATENCY_WINDOW = 1000    # latencies kept per character for the p95
_FINISHED = object()     # the end of a stream's pieces
# END SOLUTION


@dataclass(frozen=True)
class Character:
    """A character the service can speak as: its adapter folder (PEFT format, part 5), the system prompt
    that starts every conversation with it, and the greeting the page shows before the first message."""

    name: str
    adapter_path: str | Path
    system_prompt: str
    greeting: str = ""


def chat_page() -> str:
    """The chat client, ``chat.html`` next to this module."""
    return PAGE.read_text(encoding="utf-8")


class ChatEngine:
    """One base model, every character's adapter loaded once, replies generated with the right adapter.

    ``ChatEngine(model, tokenizer, characters)`` wraps ``model`` (a ``transformers`` causal LM; it is
    modified in place) into one ``PeftModel``: ``PeftModel.from_pretrained(model, path,
    adapter_name=name)`` for the first character, ``load_adapter(path, adapter_name=name)`` for the
    others. Weights are never loaded again afterwards: a reply only selects an adapter that is already
    resident.

    Concurrency. ``reply`` may be called from many threads at once (a web server does), and the active
    adapter of a ``PeftModel`` is global state: ``set_adapter`` rewrites it on every LoRA layer, and even
    ``generate(..., adapter_names=...)`` hooks the shared layers while it runs. Two designs are correct:

    - a lock: each ``reply`` holds one ``threading.Lock`` from ``set_adapter`` to the end of
      ``generate``, so generations run one after another, each with its own adapter. Simple, and enough
      for a handful of users;
    - one worker thread that owns the model: ``reply`` puts its request on a queue and waits for the
      answer. No other thread ever touches the model, so nothing can interleave, and the worker is free
      to *batch*: requests that arrive together, for different characters, go through ONE ``generate``
      call with PEFT's per-row ``adapter_names``. A batch of 8 costs little more than a batch of 1.

    The reference uses the worker: it gathers what is waiting (up to ``max_batch`` requests, for at most
    a few milliseconds), pads the prompts on the left (the new tokens of every row then start at the same
    column), runs one greedy ``generate`` for the batch, and cuts each row at its own end-of-turn token
    and its own ``max_new_tokens``. Greedy decoding of ``n`` tokens is the first ``n`` tokens of a longer
    greedy run, padding is masked out of attention and out of the position ids, and the LoRA update of a
    row uses only that row's adapter, so every row is the reply its character would give alone.

    Reference-only extras (not graded): ``reply_stream`` (text pieces as they are generated),
    ``metrics`` (requests, batches, adapter switches and loads, latencies), ``max_resident`` (at most
    that many adapters in memory, loaded on first use, the least recently used one deleted) and
    ``max_batch``.
    """

    def __init__(self, model: Any, tokenizer: Any, characters: Sequence[Character], *,
                 max_resident: int | None = None, max_batch: int = 8) -> None:
        """Load every character's adapter once onto ``model`` (see the class docstring).

        Raises ``ValueError`` when ``characters`` is empty or two characters share a name, and
        ``FileNotFoundError`` when a character's adapter folder does not exist (the message says how to
        train it: ``course persona train --character <name>``).
        """
        # TODO: check the characters, wrap the model with the first adapter, load the others, make a lock
        # BEGIN SOLUTION
        cast = list(characters)
        if not cast:
            raise ValueError("a ChatEngine needs at least one character")
        names = [character.name for character in cast]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"two characters share the name {duplicates[0]!r}; names must be unique")
        if max_resident is not None and max_resident < 1:
            raise ValueError(f"max_resident must be at least 1 (or None for all), got {max_resident}")
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        if isinstance(model, PeftModel):
            raise TypeError("ChatEngine needs the base model, not a PeftModel: it loads the adapters itself")
        self._cast = {character.name: character for character in cast}
        self._core = _Core(model, tokenizer, cast, max_resident, max_batch)
        self.model, self.tokenizer = self._core.model, tokenizer
        # END SOLUTION

    def characters(self) -> list[str]:
        """The characters' names, in the order they were given."""
        # TODO: the names, in order
        # BEGIN SOLUTION
        return list(self._cast)
        # END SOLUTION

    def character(self, name: str) -> Character:
        """The ``Character`` called ``name``; ``KeyError`` when there is none."""
        # TODO: look it up
        # BEGIN SOLUTION
        if name not in self._cast:
            raise KeyError(f"unknown character {name!r}; known: {', '.join(self._cast)}")
        return self._cast[name]
        # END SOLUTION

    def reply(self, character: str, messages: Sequence[dict], max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
              temperature: float = 0.0) -> str:
        """What ``character`` answers to the conversation ``messages``.

        - ``messages``: the conversation so far, oldest first, ending with the user's message; each is
          ``{"role": "user" | "assistant", "content": str}``.
        - The prompt is the tokenizer's chat template applied to ``[{"role": "system", "content":
          <the character's system_prompt>}] + messages`` with ``add_generation_prompt=True``.
        - Generation uses the character's adapter, at most ``max_new_tokens`` new tokens, stops at the
          tokenizer's end-of-turn token (``eos_token_id=tokenizer.eos_token_id``, ``pad_token_id`` the
          tokenizer's pad token, or its eos token when it has none). ``temperature == 0`` is greedy
          (``do_sample=False``): the same conversation always gets the same reply, the one a
          ``PeftModel`` holding only this character's adapter would generate. ``temperature > 0`` samples.
        - The reply is the new tokens decoded with ``skip_special_tokens=True``, surrounding whitespace
          stripped.

        Safe to call from several threads at once: each call gets its own character's reply.
        Raises ``KeyError`` for an unknown character and ``ValueError`` when ``messages`` is empty,
        ``max_new_tokens < 1`` or ``temperature < 0``.
        """
        # TODO: validate, build the prompt, then under a lock: set_adapter, generate, decode the new tokens
        # BEGIN SOLUTION
        self.character(character)
        return self._core.submit(character, messages, max_new_tokens, temperature).future.result()
        # END SOLUTION

    def reply_stream(self, character: str, messages: Sequence[dict],
                     max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS, temperature: float = 0.0) -> Iterator[str]:
        """Optional (not graded): the reply of ``reply(...)`` in pieces, as the tokens are generated.

        Checks the arguments at once (the same errors as ``reply``), then returns an iterator of text
        pieces; joined, the pieces are the reply (no leading or trailing whitespace). Its ``reply``
        attribute holds the whole reply once the iteration has finished. Abandoning the iterator stops
        the generation of this reply.
        """
        # TODO: optional: a transformers streamer fed by generate, read from this thread
        # BEGIN SOLUTION
        self.character(character)
        return _Stream(self._core.submit(character, messages, max_new_tokens, temperature, stream=True))
        # END SOLUTION

    def metrics(self) -> dict:
        """Optional (not graded): ``{"requests", "batches", "switches", "adapter_loads", "resident",
        "latency_ms"}``: requests served (failed ones too), ``generate`` calls, changes of adapter between consecutive
        generations, adapters read from disk (the first loads included), the adapters in memory (least
        recently used first) and, per character, ``{"count", "mean", "p95"}`` of the reply latencies in
        milliseconds (``None`` before its first reply)."""
        # TODO: optional: count what the engine does
        # BEGIN SOLUTION
        return self._core.metrics()
        # END SOLUTION


def create_app(engine: ChatEngine, max_message_chars: int = 2000):
    """The chat service: a ``fastapi.FastAPI`` app serving ``engine`` (routes and errors in the module
    docstring). Import FastAPI inside this function, so that the engine alone does not need it.

    ``POST /api/chat`` answers with ``engine.reply(character, messages, max_new_tokens)``; the greetings
    of ``GET /api/characters`` come from ``engine.character(name).greeting``. Error bodies are
    ``{"error": "<message>"}``: ``404`` for an unknown character (naming the known ones), ``413`` when a
    message's content is longer than ``max_message_chars`` characters, ``500`` when the engine raises
    (the server goes on serving). A malformed body is ``422``: pydantic models for the body, checked by
    FastAPI, do it (``max_new_tokens`` outside 1..512 is malformed too). ``GET /`` is ``chat_page()``
    as HTML.
    """
    # TODO: a FastAPI app with pydantic models for the body, the four routes and the error responses
    # BEGIN SOLUTION
    from typing import Literal

    from fastapi import FastAPI, Request
    from fastapi.encoders import jsonable_encoder
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
    from pydantic import BaseModel, Field, StrictInt, StrictStr

    class Message(BaseModel):
        role: Literal["user", "assistant"]
        content: StrictStr

    class ChatRequest(BaseModel):
        character: StrictStr
        messages: list[Message] = Field(min_length=1)
        max_new_tokens: StrictInt = Field(DEFAULT_MAX_NEW_TOKENS, ge=1, le=MAX_NEW_TOKENS_LIMIT)

    app = FastAPI(title="lora_lab chat", summary="One base model, one LoRA adapter per character.")

    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status)

    @app.exception_handler(RequestValidationError)
    async def malformed(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(part) for part in problem.get('loc', ()))}: {problem.get('msg')}"
                             for problem in exc.errors())
        return JSONResponse({"error": f"malformed request: {problems}", "detail": jsonable_encoder(exc.errors())},
                            status_code=422)

    def check(body: ChatRequest) -> tuple[list[dict], JSONResponse | None]:
        """The messages as dicts, or the error response the request deserves."""
        if body.character not in engine.characters():
            return [], error(404, f"unknown character {body.character!r}; known characters: "
                                  f"{', '.join(engine.characters())}")
        for number, message in enumerate(body.messages):
            if len(message.content) > max_message_chars:
                return [], error(413, f"message {number} is {len(message.content)} characters long; "
                                      f"the limit is {max_message_chars}")
        return [message.model_dump() for message in body.messages], None

    @app.get("/", response_class=HTMLResponse)
    def page() -> HTMLResponse:
        return HTMLResponse(chat_page())

    @app.get("/healthz")
    def healthz() -> dict:
        return {"status": "ok", "characters": len(engine.characters())}

    @app.get("/api/characters")
    def characters() -> list[dict]:
        return [{"name": name, "greeting": engine.character(name).greeting} for name in engine.characters()]

    @app.post("/api/chat")
    def chat(body: ChatRequest):
        messages, problem = check(body)
        if problem is not None:
            return problem
        try:
            reply = engine.reply(body.character, messages, max_new_tokens=body.max_new_tokens)
        except Exception as exc:  # noqa: BLE001 - one failed reply must not take the server down
            return error(500, f"the engine failed: {type(exc).__name__}: {exc}")
        return {"character": body.character, "reply": reply}

    @app.post("/api/chat/stream")
    def chat_stream(body: ChatRequest):
        messages, problem = check(body)
        if problem is not None:
            return problem
        try:
            stream = engine.reply_stream(body.character, messages, max_new_tokens=body.max_new_tokens)
        except Exception as exc:  # noqa: BLE001
            return error(500, f"the engine failed: {type(exc).__name__}: {exc}")

        def events() -> Iterator[str]:
            pieces = []
            try:
                for piece in stream:
                    pieces.append(piece)
                    yield _event({"token": piece})
                reply = getattr(stream, "reply", None)
                yield _event({"done": True, "character": body.character,
                              "reply": reply if reply is not None else "".join(pieces)})
            except Exception as exc:  # noqa: BLE001 - the status line is sent: report in the stream
                yield _event({"error": f"the engine failed: {type(exc).__name__}: {exc}"})
            finally:  # the client may have gone away: stop generating for nobody
                if hasattr(stream, "close"):
                    stream.close()

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @app.get("/api/metrics")
    def metrics():
        if not hasattr(engine, "metrics"):
            return error(404, "this engine keeps no metrics")
        try:
            return engine.metrics()
        except Exception as exc:  # noqa: BLE001
            return error(500, f"the engine failed: {type(exc).__name__}: {exc}")

    return app
    # END SOLUTION


# BEGIN SOLUTION
def _event(payload: dict) -> str:
    """One server-sent event."""
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"


def _summary(latencies: deque, count: int) -> dict:
    if not latencies:
        return {"count": count, "mean": None, "p95": None}
    ordered = sorted(latencies)
    return {"count": count, "mean": round(sum(ordered) / len(ordered), 3),
            "p95": round(ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)], 3)}


def _adapter_names(names: list[str]) -> dict[str, str]:
    """Each character's PEFT adapter name: its own name when PEFT can take it (no dot, not an attribute
    of a ModuleDict), else ``character_<index>``."""
    chosen: dict[str, str] = {}
    for index, name in enumerate(names):
        fine = name and "." not in name and not hasattr(torch.nn.ModuleDict(), name)
        adapter = name if fine else f"character_{index}"
        while adapter in names and adapter != name or adapter in chosen.values():
            adapter = f"_{adapter}"
        chosen[name] = adapter
    return chosen


def _identity(model: Any) -> dict:
    config = model.config
    return {key: getattr(config, key, None) for key in ("model_type", "hidden_size", "num_hidden_layers", "vocab_size")}


def _describe(model: Any) -> str:
    identity = _identity(model)
    name = getattr(model.config, "_name_or_path", "") or "the given model"
    return f"{name} ({', '.join(f'{key}={value}' for key, value in identity.items())})"


def _incompatible(character: Character, model: Any, details: Sequence[str]) -> ValueError:
    path = Path(character.adapter_path)
    trained_on = "another base model"
    try:
        config = json.loads((path / "adapter_config.json").read_text(encoding="utf-8"))
        trained_on = config.get("base_model_name_or_path") or trained_on
    except (OSError, ValueError):
        pass
    try:
        summary = json.loads((path / "summary.json").read_text(encoding="utf-8"))
        identity = summary.get("base_identity") or {}
        trained_on = f"{summary.get('base_model') or trained_on} " \
                     f"({', '.join(f'{key}={value}' for key, value in identity.items())})"
    except (OSError, ValueError, AttributeError):
        pass
    detail = "; ".join(line.strip() for line in details)
    return ValueError(f"the adapter of {character.name!r} ({path}) was trained for {trained_on}, not for "
                      f"{_describe(model)}: {detail}. Train it on this base model: "
                      f"`{TRAIN_HINT.format(name=character.name)} --model <this base model>`")


def _check_adapter(character: Character, model: Any) -> None:
    """Refuse, before loading anything, an adapter that is missing or made for another base model."""
    path = Path(character.adapter_path)
    if not (path / "adapter_config.json").is_file():
        raise FileNotFoundError(f"no adapter for {character.name!r} at {path} (no adapter_config.json there); "
                                f"train one with `{TRAIN_HINT.format(name=character.name)} --out {path}`")
    summary_path = path / "summary.json"
    if summary_path.is_file():
        try:
            identity = json.loads(summary_path.read_text(encoding="utf-8")).get("base_identity")
        except (OSError, ValueError, AttributeError):
            identity = None
        if isinstance(identity, dict):
            mismatched = [f"{key} {identity[key]} != {value}" for key, value in _identity(model).items()
                          if key in identity and identity[key] != value]
            if mismatched:
                raise _incompatible(character, model, mismatched)
    weights = path / "adapter_model.safetensors"
    if not weights.is_file():
        return  # another format: a mismatch will surface (and be explained) while loading
    from safetensors import safe_open

    modules = dict(model.named_modules())
    problems = []
    with safe_open(str(weights), framework="pt") as tensors:
        for key in tensors.keys():  # noqa: SIM118 - a safetensors handle, not a dict
            match = re.fullmatch(r"base_model\.model\.(.+)\.lora_(A|B|embedding_A|embedding_B)(?:\.weight)?", key)
            if match is None:
                continue
            module_name, factor = match.groups()
            module = modules.get(module_name)
            shape = tuple(tensors.get_slice(key).get_shape())
            if module is None:
                problems.append(f"the model has no module {module_name}")
                continue
            if isinstance(module, torch.nn.Linear):
                expected = {"A": module.in_features, "B": module.out_features}.get(factor)
                got = shape[1] if factor == "A" else shape[0]
            elif isinstance(module, torch.nn.Embedding):
                expected = {"embedding_A": module.num_embeddings, "embedding_B": module.embedding_dim}.get(factor)
                got = shape[1] if factor == "embedding_A" else shape[0]
            else:
                continue
            if expected is not None and got != expected:
                problems.append(f"{module_name}.lora_{factor} has shape {list(shape)}, "
                                f"the model's layer is {expected} wide")
        if problems:
            raise _incompatible(character, model, problems[:3] + ([f"and {len(problems) - 3} more"]
                                                                  if len(problems) > 3 else []))


def _groups(batch: list["_Request"], max_resident: int | None) -> list[list["_Request"]]:
    """Split a batch into the groups that can share one ``generate``: the same temperature (greedy or
    one sampling temperature) and at most ``max_resident`` different adapters."""
    groups: list[list[_Request]] = []
    for request in batch:
        for group in groups:
            characters = {member.character for member in group} | {request.character}
            if group[0].temperature == request.temperature and \
                    (max_resident is None or len(characters) <= max_resident):
                group.append(request)
                break
        else:
            groups.append([request])
    return groups


class _Core:
    """The reference engine's machinery: the PeftModel, the resident adapters, the worker, the counters.

    Only the worker thread calls ``serve`` (and so ``generate``, ``activate``, ``load_adapter`` and
    ``delete_adapter``) once the constructor has returned; the counters are shared with ``metrics`` under
    ``stats_lock``.
    """

    def __init__(self, model: Any, tokenizer: Any, cast: list[Character], max_resident: int | None,
                 max_batch: int) -> None:
        self.tokenizer, self.max_resident = tokenizer, max_resident
        self.cast = {character.name: character for character in cast}
        self.adapter = _adapter_names([character.name for character in cast])
        for character in cast:  # every missing or foreign adapter shows now, before the model is touched
            _check_adapter(character, model)
        self.eos_token_id = tokenizer.eos_token_id
        self.pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.eos_token_id
        self.model: Any = None
        self.lora_layers: list[BaseTunerLayer] = []
        self.active: str | None = None         # the adapter every LoRA layer applies now (None: unknown)
        self.resident: OrderedDict[str, None] = OrderedDict()  # least recently used first
        self.stats_lock = threading.Lock()
        self.stats = {"requests": 0, "batches": 0, "switches": 0, "adapter_loads": 0}
        self.latency = {character.name: deque(maxlen=LATENCY_WINDOW) for character in cast}
        self.latency_count = {character.name: 0 for character in cast}
        self.last_adapters: tuple[str, ...] | None = None
        # all adapters now, or (with max_resident) the first one, which PeftModel needs, and the rest on use
        for character in cast[:1 if max_resident else len(cast)]:
            self.load(character.name, model)
        self.model.eval()
        self.worker = _Worker(self.serve, max_batch)

    def submit(self, character: str, messages: Sequence[dict], max_new_tokens: int, temperature: float,
               stream: bool = False) -> "_Request":
        """Check a request (any thread) and queue it for the worker."""
        if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be a positive integer, got {max_new_tokens!r}")
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature >= 0:
            raise ValueError(f"temperature must be 0 (greedy) or positive, got {temperature!r}")
        messages = list(messages)
        if not messages:
            raise ValueError("messages is empty: send at least the user's message")
        conversation = [{"role": "system", "content": self.cast[character].system_prompt}]
        for number, message in enumerate(messages):
            if not isinstance(message, dict) or message.get("role") not in ROLES \
                    or not isinstance(message.get("content"), str):
                raise ValueError(f"message {number} must be {{'role': 'user' | 'assistant', 'content': str}}, "
                                 f"got {message!r}")
            conversation.append({"role": message["role"], "content": message["content"]})
        request = _Request(character, conversation, max_new_tokens, float(temperature), stream,
                           self.tokenizer, self.eos_token_id)
        self.worker.submit(request)
        return request

    def metrics(self) -> dict:
        with self.stats_lock:
            latency = {name: _summary(self.latency[name], self.latency_count[name]) for name in self.cast}
            return {**self.stats, "resident": list(self.resident), "latency_ms": latency}

    def load(self, name: str, model: Any = None) -> None:
        """Read one adapter from disk into the PeftModel (creating the PeftModel for the first one)."""
        character, adapter = self.cast[name], self.adapter[name]
        path = str(character.adapter_path)
        try:
            if self.model is None:
                self.model = PeftModel.from_pretrained(model, path, adapter_name=adapter)
            else:
                self.model.load_adapter(path, adapter_name=adapter)
        except RuntimeError as error:
            if self.model is not None and adapter in self.model.peft_config:  # PEFT leaves it half-loaded
                self.model.delete_adapter(adapter)
            if "size mismatch" in str(error):
                raise _incompatible(character, self.model or model, str(error).strip().splitlines()[1:2]) from error
            raise
        self.find_lora_layers()
        with self.stats_lock:
            self.resident[name] = None
            self.stats["adapter_loads"] += 1

    def activate(self, adapter: str) -> None:
        """Make ``adapter`` the one every LoRA layer applies, in microseconds.

        ``PeftModel.set_adapter`` does the same but walks every module of the model (hundreds) and sets
        ``requires_grad`` on every factor: 10-20 ms on SmolLM2, on every switch. A server that never
        trains only needs each LoRA layer's active adapter, so it keeps the list of LoRA layers (made
        again whenever adapters are loaded or deleted) and sets that one attribute on each."""
        if self.active == adapter:
            return
        for layer in self.lora_layers:
            layer._active_adapter = adapter  # what BaseTunerLayer.set_adapter sets, minus requires_grad
        self.model.active_adapter = self.model.base_model.active_adapter = adapter  # PeftModel and LoraModel
        self.active = adapter

    def find_lora_layers(self) -> None:
        self.lora_layers = [module for module in self.model.modules() if isinstance(module, BaseTunerLayer)]
        self.active = None  # a loaded or deleted adapter may have added layers: the next switch sets all

    def make_resident(self, names: set[str]) -> None:
        """Load what ``names`` needs; then delete the least recently used others beyond ``max_resident``
        (so while switching, one adapter more than ``max_resident`` is briefly in memory)."""
        for name in names:
            if name not in self.resident:
                self.load(name)
        with self.stats_lock:
            for name in names:
                self.resident.move_to_end(name)
            excess = len(self.resident) - (self.max_resident or len(self.resident))
            evict = [name for name in self.resident if name not in names][:max(0, excess)]
            for name in evict:
                del self.resident[name]
        for name in evict:
            self.model.delete_adapter(self.adapter[name])
        if evict:
            self.find_lora_layers()

    def serve(self, batch: list["_Request"]) -> None:
        """Worker thread: answer a batch of requests, one ``generate`` per group that can share one."""
        for request in batch:
            if request.cancelled:  # a stream abandoned before its turn
                request.fail(CancelledError())
        for group in _groups([request for request in batch if not request.cancelled], self.max_resident):
            try:
                replies: list[str] | Exception = self.generate(group)
            except Exception as error:  # noqa: BLE001 - the callers get the error, the worker lives on
                replies = error
            with self.stats_lock:  # counted before the callers wake up, so metrics() never lags behind
                for request in group:
                    self.stats["requests"] += 1
                    self.latency[request.character].append((time.perf_counter() - request.started) * 1000)
                    self.latency_count[request.character] += 1
            for number, request in enumerate(group):
                if isinstance(replies, Exception):
                    request.fail(replies)
                else:
                    request.finish(replies[number])

    @torch.inference_mode()
    def generate(self, rows: list["_Request"]) -> list[str]:
        """One ``generate`` for ``rows``: left padding, greedy (or one sampling temperature), each row with
        its own adapter, cut to its own ``max_new_tokens`` and end-of-turn token. Returns the replies."""
        names = [request.character for request in rows]
        self.make_resident(set(names))
        prompts = [list(self.tokenizer.apply_chat_template(request.conversation, add_generation_prompt=True,
                                                           tokenize=True, return_dict=False)) for request in rows]
        width = max(len(prompt) for prompt in prompts)
        device = next(self.model.parameters()).device
        input_ids = torch.tensor([[self.pad_token_id] * (width - len(prompt)) + prompt for prompt in prompts],
                                 device=device)
        attention_mask = torch.tensor([[0] * (width - len(prompt)) + [1] * len(prompt) for prompt in prompts],
                                      device=device)
        options: dict[str, Any] = {"do_sample": False} if rows[0].temperature == 0 else \
            {"do_sample": True, "temperature": rows[0].temperature}
        adapters = [self.adapter[name] for name in names]
        if len(set(adapters)) == 1:
            self.activate(adapters[0])                 # the plain path: one adapter active
        else:
            options["adapter_names"] = adapters                        # PEFT's mixed batch: one per row
        if any(request.stream is not None for request in rows):
            options["streamer"] = _RowStreamer(rows)
        output = self.model.generate(
            input_ids=input_ids, attention_mask=attention_mask,
            max_new_tokens=max(request.max_new_tokens for request in rows),
            eos_token_id=self.eos_token_id, pad_token_id=self.pad_token_id,
            stopping_criteria=StoppingCriteriaList([_RowLimits(width, rows)]), **options)
        used = tuple(sorted(set(adapters)))
        with self.stats_lock:
            self.stats["batches"] += 1
            self.stats["switches"] += self.last_adapters is not None and used != self.last_adapters
            self.last_adapters = used
        replies = []
        for row, request in enumerate(rows):
            new = output[row, width:width + request.max_new_tokens].tolist()
            if self.eos_token_id in new:
                new = new[:new.index(self.eos_token_id)]
            replies.append(self.tokenizer.decode(new, skip_special_tokens=True).strip())
        return replies


class _Request:
    """One reply to generate: what the caller asked, its future, and (when streaming) its pieces."""

    def __init__(self, character: str, conversation: list[dict], max_new_tokens: int, temperature: float,
                 stream: bool, tokenizer: Any, eos_token_id: int) -> None:
        self.character, self.conversation = character, conversation
        self.tokenizer, self.eos_token_id = tokenizer, eos_token_id
        self.max_new_tokens, self.temperature = max_new_tokens, temperature
        self.future: Future = Future()
        self.stream: queue.SimpleQueue | None = queue.SimpleQueue() if stream else None
        self.cancelled = False
        self.started = time.perf_counter()
        self.tokens: list[int] = []
        self.open = True        # still taking tokens from the streamer
        self.sent = ""          # the text already streamed

    def take(self, token: int) -> None:
        """A new token of this row (worker thread): stream the text that is now certain."""
        if not self.open:
            return
        if token == self.eos_token_id or len(self.tokens) >= self.max_new_tokens:
            self.open = False
            return
        self.tokens.append(token)
        text = self.tokenizer.decode(self.tokens, skip_special_tokens=True).lstrip()
        end = len(text)  # hold back trailing whitespace (it may end the reply) and half a UTF-8 character
        while end and (text[end - 1].isspace() or text[end - 1] == "\ufffd"):
            end -= 1
        if end > len(self.sent) and text.startswith(self.sent):
            self.stream.put(text[len(self.sent):end])
            self.sent = text[:end]

    def finish(self, reply: str) -> None:
        if self.stream is not None:
            if len(reply) > len(self.sent) and reply.startswith(self.sent):
                self.stream.put(reply[len(self.sent):])
            self.stream.put(_FINISHED)
        self.future.set_result(reply)

    def fail(self, error: BaseException) -> None:
        if not self.future.done():
            self.future.set_exception(error)
        if self.stream is not None:
            self.stream.put(_FINISHED)


class _Stream:
    """The iterator ``reply_stream`` returns: pieces until the end, then ``reply`` holds the whole reply."""

    def __init__(self, request: _Request) -> None:
        self._request, self.reply, self._closed = request, None, False

    def __iter__(self) -> "_Stream":
        return self

    def __next__(self) -> str:
        if self.reply is not None or self._closed:
            raise StopIteration
        item = self._request.stream.get()
        if item is _FINISHED:
            self.reply = self._request.future.result()  # raises the worker's error, if any
            raise StopIteration
        return item

    def close(self) -> None:
        """Stop: the worker drops this reply at its next token (or before it starts)."""
        self._closed = self._request.cancelled = True

    def __del__(self) -> None:
        if not self._request.future.done():
            self._request.cancelled = True


class _RowLimits(StoppingCriteria):
    """Row ``i`` is done after its own ``max_new_tokens`` (or once its stream is abandoned)."""

    def __init__(self, width: int, rows: list[_Request]) -> None:
        self.width, self.rows = width, rows
        self.limits = torch.tensor([request.max_new_tokens for request in rows])

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        done = self.limits.to(input_ids.device) <= input_ids.shape[1] - self.width
        cancelled = torch.tensor([request.cancelled for request in self.rows], device=input_ids.device)
        return done | cancelled


class _RowStreamer(BaseStreamer):
    """Hands each row's new token to its request; the first ``put`` is the prompt."""

    def __init__(self, rows: list[_Request]) -> None:
        self.rows, self.prompt_seen = rows, False

    def put(self, value: torch.Tensor) -> None:
        if not self.prompt_seen:
            self.prompt_seen = True
            return
        for request, token in zip(self.rows, value.reshape(-1).tolist()):
            if request.stream is not None:
                request.take(token)

    def end(self) -> None:
        pass


class _Worker:
    """The one thread that runs the model: takes queued requests, batches them, calls ``serve(batch)``.

    The thread starts with the first request and ends after ``IDLE_EXIT_S`` seconds without any (so an
    unused engine holds no thread); the next request starts a new one.
    """

    def __init__(self, serve: Any, max_batch: int) -> None:
        self.serve, self.max_batch = serve, max_batch
        self.queue: queue.Queue = queue.Queue()
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None

    def submit(self, request: _Request) -> None:
        with self.lock:
            self.queue.put(request)
            if self.thread is None:
                self.thread = threading.Thread(target=self.run, name="chat-engine-worker", daemon=True)
                self.thread.start()

    def run(self) -> None:
        while True:
            try:
                batch = [self.queue.get(timeout=IDLE_EXIT_S)]
            except queue.Empty:
                with self.lock:  # submit() holds this lock while it queues, so nothing can slip through
                    if self.queue.empty():
                        self.thread = None
                        return
                continue
            deadline = time.perf_counter() + BATCH_WINDOW_S
            while len(batch) < self.max_batch:
                try:
                    batch.append(self.queue.get(timeout=max(0.0, deadline - time.perf_counter())))
                except queue.Empty:
                    break
            try:
                self.serve(batch)
            except BaseException as error:  # noqa: BLE001 - never leave a caller waiting
                for request in batch:
                    request.fail(error)
# END SOLUTION
