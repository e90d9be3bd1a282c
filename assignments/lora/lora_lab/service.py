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

(The page streams replies where a server offers ``POST /api/chat/stream``, as the course's own service
behind ``course serve`` does, and falls back to ``/api/chat`` where there is none: nothing to write here.)

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
from collections.abc import Sequence
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

    Either gets every point. (A batching worker must pad the prompts on the left, so the new tokens of every
    row start at the same column, and cut each row at its own end-of-turn token and ``max_new_tokens``.)
    """

    def __init__(self, model: Any, tokenizer: Any, characters: Sequence[Character]) -> None:
        """Load every character's adapter once onto ``model`` (see the class docstring).

        Raises ``ValueError`` when ``characters`` is empty or two characters share a name, and
        ``FileNotFoundError`` when a character's adapter folder does not exist (the message says how to
        train it: ``course persona train --character <name>``).
        """
        # TODO: check the characters, wrap the model with the first adapter, load the others, make a lock
        raise NotImplementedError('TODO: check the characters, wrap the model with the first adapter, load the others, make a lock')

    def characters(self) -> list[str]:
        """The characters' names, in the order they were given."""
        # TODO: the names, in order
        raise NotImplementedError('TODO: the names, in order')

    def character(self, name: str) -> Character:
        """The ``Character`` called ``name``; ``KeyError`` when there is none."""
        # TODO: look it up
        raise NotImplementedError('TODO: look it up')

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
        raise NotImplementedError('TODO: validate, build the prompt, then under a lock: set_adapter, generate, decode the new tokens')


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
    raise NotImplementedError('TODO: a FastAPI app with pydantic models for the body, the four routes and the error responses')
