"""``course serve``: the course's multi-character chat service (:mod:`.chat`, the product: batching,
streaming, metrics) on a real base model, on part 6's app and page from the reference package.

The characters are the adapters that ``course persona train`` wrote (each folder's ``summary.json`` names
its character and system prompt). The base model is loaded once; adapters are trained per base model,
and one made for another base is refused with a clear message.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..core.config import Course
from ..engine.reference import Reference
from . import chat
from ..core.models import load_model
from .persona import SUMMARY, PersonaError, find_adapters


def characters_from(folder: Path) -> list[chat.Character]:
    """One ``Character`` per trained adapter under ``folder``; a clear error when there is none."""
    adapters = find_adapters(folder)
    if not adapters:
        raise PersonaError(f"no trained adapters in {folder}; train some first, for example:\n"
                           f"  course persona train --character Holmes --out {folder}/holmes\n"
                           f"  course persona train --character Alice --out {folder}/alice")
    return [chat.Character(name=summary["character"], adapter_path=str(path),
                           system_prompt=summary.get("system_prompt") or f"You are {summary['character']}.",
                           greeting=summary.get("greeting", ""))
            for path, summary in adapters]


def build_app(course: Course, adapters: Path, model: str | None = None, max_resident: int | None = None,
              max_message_chars: int = 2000) -> tuple[Any, Any]:
    """``(app, engine)`` of the course's service on ``model`` (default: the adapters' own base model)."""
    assignment = course.assignment()
    service = Reference(assignment.solution, assignment.package).module("service")
    characters = characters_from(adapters)
    base = model or json.loads((Path(characters[0].adapter_path) / SUMMARY).read_text())["base_model"]
    base_model, tokenizer, _ = load_model(base)
    try:
        engine = chat.ChatEngine(base_model, tokenizer, characters, service=service, max_resident=max_resident)
    except (ValueError, FileNotFoundError) as error:
        raise PersonaError(str(error)) from None
    return chat.create_app(engine, service, max_message_chars=max_message_chars), engine


def serve(course: Course, adapters: Path, host: str, port: int, model: str | None = None,
          max_resident: int | None = None) -> None:
    import uvicorn

    app, engine = build_app(course, adapters, model, max_resident)
    print(f"serving {', '.join(engine.characters())} on http://{host}:{port}/ (Ctrl-C stops)", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")
