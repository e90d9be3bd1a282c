"""``course persona train`` and ``course persona eval``: real persona adapters from real books.

Both use the reference solution's ``lora_lab.persona`` and ``lora_lab.finetune`` (one source of truth),
on the base model of ``course.yml`` (SmolLM2-135M-Instruct by default).

``train`` writes, into the adapter folder: the PEFT adapter, ``loss.png`` (the loss curve) and
``summary.json`` (settings, counts, time, held-out lines and their perplexity under base and adapter).
``eval`` is the persona scorecard (:mod:`.scorecard`): perplexity of every adapter on every character's
held-out lines, who the replies sound like, and how varied they are.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.config import Course, PersonaCharacter
from ..core.errors import CourseError
from ..engine.reference import Reference
from .books import read_book
from ..core.models import load_model, model_identity

SUMMARY = "summary.json"


class PersonaError(CourseError):
    """A persona command cannot run; the message says why and what to do."""


@dataclass(frozen=True)
class TrainRequest:
    character: PersonaCharacter
    out: Path
    base_model: str
    training: dict[str, float]
    download: bool = False


def reference_module(course: Course, name: str) -> Any:
    """A module of the reference solution, e.g. ``"persona"``."""
    assignment = course.assignment()
    return Reference(assignment.solution, assignment.package).module(name)


def reference_modules(course: Course) -> tuple[Any, Any]:
    """The reference ``persona`` and ``finetune`` modules."""
    return reference_module(course, "persona"), reference_module(course, "finetune")


def split_held_out(examples: list[dict], fraction: float) -> tuple[list[dict], list[dict]]:
    """Every k-th example is held out (k = round(1 / fraction)), so the held-out lines spread over the book."""
    every = max(2, round(1 / fraction))
    train = [example for index, example in enumerate(examples) if index % every != every - 1]
    held_out = [example for index, example in enumerate(examples) if index % every == every - 1]
    return train, held_out


def plot_losses(losses: list[float], title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(6, 3.5))
    axes.plot(range(1, len(losses) + 1), losses, linewidth=1, alpha=0.5, label="loss per step")
    window = max(1, len(losses) // 20)
    smooth = [sum(losses[max(0, i - window + 1):i + 1]) / len(losses[max(0, i - window + 1):i + 1])
              for i in range(len(losses))]
    axes.plot(range(1, len(losses) + 1), smooth, linewidth=2, label=f"mean of {window} steps")
    axes.set(xlabel="step", ylabel="cross-entropy on reply tokens", title=title)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    pyplot.close(figure)


def character_examples(course: Course, character: PersonaCharacter, held_out: float,
                       download: bool = False) -> tuple[list[dict], list[dict]]:
    """``(train, held_out)``: the character's chat examples from their book, split by ``split_held_out``.

    Training and the scorecard both take their lines from here, so the scorecard's held-out lines are
    exactly the ones training never saw.
    """
    persona, _ = reference_modules(course)
    text = persona.strip_gutenberg(read_book(character.book, course.persona.library if course.persona else None,
                                             download=download))
    examples = persona.build_examples(text, character.character, character.aliases, character.system_prompt)
    if len(examples) < 10:
        raise PersonaError(f"only {len(examples)} lines of {character.character!r} found in book {character.book}; "
                           f"check the name and aliases")
    return split_held_out(examples, held_out)


def train(course: Course, request: TrainRequest, log=print) -> dict:
    """Train one persona adapter; returns the summary written beside it."""
    persona, finetune = reference_modules(course)
    character, settings = request.character, request.training
    train_examples, held_out = character_examples(course, character, settings["held_out"], request.download)
    examples = train_examples + held_out
    log(f"{character.character}: {len(examples)} lines in book {character.book}; training on {len(train_examples)}, "
        f"holding out {len(held_out)}")
    started = time.perf_counter()
    model, tokenizer, source = load_model(request.base_model)
    log(f"base model {request.base_model} loaded from {source} in {time.perf_counter() - started:.1f} s")
    held_out_lines = [example["messages"][-1]["content"] for example in held_out]
    base_perplexity = finetune.perplexity(model, tokenizer, held_out_lines)
    dataset = finetune_dataset(persona, train_examples, tokenizer, int(settings["max_length"]))
    config = finetune.make_lora_config(r=int(settings["r"]), alpha=settings["alpha"], dropout=settings["dropout"])
    result = finetune.train_adapter(model, tokenizer, dataset, config=config, steps=int(settings["steps"]),
                                    lr=settings["lr"], batch_size=int(settings["batch_size"]), seed=int(settings["seed"]))
    adapter_perplexity = finetune.perplexity(result.model, tokenizer, held_out_lines)
    request.out.mkdir(parents=True, exist_ok=True)
    finetune.save_adapter(result.model, request.out)
    plot_losses(result.losses, f"{character.character} ({request.base_model}, r={int(settings['r'])})",
                request.out / "loss.png")
    summary = {
        "id": character.id, "character": character.character, "aliases": list(character.aliases),
        "book": character.book, "base_model": request.base_model, "base_identity": model_identity(model),
        "system_prompt": train_examples[0]["messages"][0]["content"],
        "lines": len(examples), "train_examples": len(train_examples), "train_rows": len(dataset),
        "held_out_lines": held_out_lines, "settings": settings,
        "trainable_params": result.trainable_params, "total_params": result.total_params,
        "training_seconds": round(result.seconds, 1), "tokens_per_second": round(result.tokens_per_second, 1),
        "losses": [round(loss, 4) for loss in result.losses],
        "held_out_perplexity": {"base": round(base_perplexity, 3), "adapter": round(adapter_perplexity, 3)},
    }
    (request.out / SUMMARY).write_text(json.dumps(summary, indent=2) + "\n")
    log(f"trained {int(settings['steps'])} steps in {result.seconds:.0f} s ({result.tokens_per_second:.0f} tokens/s); "
        f"held-out perplexity of {character.character}'s lines: base {base_perplexity:.2f} -> adapter "
        f"{adapter_perplexity:.2f}; adapter, loss.png and {SUMMARY} written to {request.out}")
    return summary


def finetune_dataset(persona: Any, examples: list[dict], tokenizer: Any, max_length: int):
    dataset = persona.tokenize_examples(examples, tokenizer, max_length)
    if len(dataset) == 0:
        raise PersonaError(f"no example fits in max_length={max_length} tokens; raise max_length")
    return dataset


def find_adapters(folder: Path) -> list[tuple[Path, dict]]:
    """Every adapter under ``folder`` that ``train`` wrote (it has a summary)."""
    found = []
    for summary in sorted(folder.glob(f"*/{SUMMARY}")):
        try:
            found.append((summary.parent, json.loads(summary.read_text())))
        except (OSError, ValueError) as error:
            raise PersonaError(f"cannot read {summary}: {error}") from None
    return found
