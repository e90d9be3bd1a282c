"""``course persona eval``: the persona scorecard. Can a person tell the characters apart?

For the adapters ``course persona train`` wrote (every folder under ``adapters/`` by default) and the
characters of ``course.yml``, on each character's held-out lines (the every-tenth-line split training
holds out, from :func:`.persona.character_examples`):

1. **Perplexity matrix**: the base model and every adapter x every character's held-out lines, the
   relative change against the base model, and **diagonal dominance**: for how many characters their
   own adapter gives the lowest perplexity among all adapters.
2. **Who is speaking**: a speaker classifier (scikit-learn TF-IDF + logistic regression) trained on the
   books' attributed lines of the characters (the training split), its accuracy on the held-out book
   lines first (its own skill), then applied to the greedy replies of every adapter, through the
   course's chat service (:mod:`.chat`, as a person would get them), to one fixed set of held-out user
   turns: the confusion matrix and the accuracy against chance (1 / number of characters).
3. **Diversity**: distinct-1 and distinct-2 of each adapter's replies, and the share of replies that
   are empty or repeat the prompt.

The result is a dict (written as ``scorecard.json``), a terminal table (:func:`render`) and a PNG with
the perplexity heatmap and the confusion matrix (:func:`plot`).
"""

from __future__ import annotations

import math
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from ..core.config import Course, PersonaCharacter
from ..core.models import load_model, model_identity
from .persona import PersonaError, character_examples, find_adapters, reference_module, reference_modules

SCORECARD_JSON = "scorecard.json"
SCORECARD_PNG = "scorecard.png"
DEFAULT_PROMPTS_PER_CHARACTER = 4
DEFAULT_MAX_NEW_TOKENS = 48
_WORD = re.compile(r"[a-z0-9’']+")


@dataclass(frozen=True)
class CharacterLines:
    """One character's lines from their book: training split and held-out split (chat examples)."""

    character: PersonaCharacter
    train: list[dict]
    held_out: list[dict]

    @property
    def held_out_lines(self) -> list[str]:
        return [example["messages"][-1]["content"] for example in self.held_out]

    @property
    def train_lines(self) -> list[str]:
        return [example["messages"][-1]["content"] for example in self.train]


def course_lines(course: Course, held_out: float, download: bool = False) -> dict[str, CharacterLines]:
    """Every character of ``course.yml``, by id, with the same split as training."""
    if course.persona is None:
        raise PersonaError(f"{course.path} has no persona: section (base model, characters, training defaults)")
    return {character.id: CharacterLines(character, *character_examples(course, character, held_out, download))
            for character in course.persona.characters.values()}


def held_out_prompts(lines: dict[str, CharacterLines], per_character: int) -> list[str]:
    """The fixed user turns every adapter answers: up to ``per_character`` held-out user turns of each
    character (what another speaker said just before the character's line; the neutral prompt and repeats
    are skipped), spread evenly over the book, in the characters' order."""
    persona_neutral = "Please, go on."
    prompts: list[str] = []
    for entry in lines.values():
        turns = [example["messages"][-2]["content"] for example in entry.held_out]
        turns = [turn for turn in dict.fromkeys(turns) if turn != persona_neutral and turn not in prompts]
        step = max(1, len(turns) // per_character) if turns else 1
        prompts.extend(turns[::step][:per_character])
    return prompts


def perplexity_matrix(finetune: Any, model: Any, tokenizer: Any, adapters: Sequence[tuple[Path, dict]],
                      texts: dict[str, list[str]], log: Callable[[str], None] = print) -> dict[str, dict[str, float]]:
    """``{"base" | adapter id: {character id: perplexity of their held-out lines}}``.

    Every adapter is loaded once into one ``PeftModel`` on ``model`` (which it changes); an adapter trained
    on another base model is refused.
    """
    from peft import PeftModel

    identity = model_identity(model)
    table = {"base": {name: finetune.perplexity(model, tokenizer, lines) for name, lines in texts.items()}}
    peft_model = None
    for path, summary in adapters:
        if summary.get("base_identity") != identity:
            raise PersonaError(f"adapter {path} was trained on {summary.get('base_model')}, not on this base model")
        if peft_model is None:
            peft_model = PeftModel.from_pretrained(model, str(path), adapter_name=summary["id"])
        else:
            peft_model.load_adapter(str(path), adapter_name=summary["id"])
        peft_model.set_adapter(summary["id"])
        table[summary["id"]] = {name: finetune.perplexity(peft_model, tokenizer, lines) for name, lines in texts.items()}
        log(f"perplexity of adapter {summary['id']} on every character's held-out lines: done")
    return table


def relative_change(matrix: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """Each adapter's perplexity against the base model's on the same lines: ``ppl / base - 1``."""
    base = matrix["base"]
    return {name: {column: value / base[column] - 1 for column, value in row.items()}
            for name, row in matrix.items() if name != "base"}


def dominance(matrix: dict[str, dict[str, float]]) -> dict[str, Any]:
    """For every character with an adapter of its own: is their own adapter the lowest of all adapters on
    their held-out lines (strictly; a tie is no win)? Also whether it beats the base model there.

    ``{"count", "of", "characters": {id: {"own", "best", "best_other", "dominant", "better_than_base"}}}``.
    """
    adapters = [name for name in matrix if name != "base"]
    result: dict[str, Any] = {"characters": {}}
    for column in matrix["base"]:
        if column not in adapters:
            continue
        others = {name: matrix[name][column] for name in adapters if name != column}
        own = matrix[column][column]
        best_other = min(others, key=others.get) if others else None
        result["characters"][column] = {
            "own": own, "best": min(adapters, key=lambda name: matrix[name][column]), "best_other": best_other,
            "dominant": best_other is None or own < others[best_other],
            "better_than_base": own < matrix["base"][column]}
    result["count"] = sum(entry["dominant"] for entry in result["characters"].values())
    result["of"] = len(result["characters"])
    return result


def train_speaker_classifier(lines: dict[str, CharacterLines], seed: int = 0) -> tuple[Any, dict[str, Any]]:
    """A TF-IDF (words and word pairs) + logistic-regression classifier of who said a line, trained on the
    training split of every character's book lines (classes weighted by their size), and its accuracy and
    confusion matrix on the held-out book lines: ``(classifier, report)``."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    texts = [line for entry in lines.values() for line in entry.train_lines]
    labels = [name for name, entry in lines.items() for _ in entry.train_lines]
    classifier = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, lowercase=True),
                               LogisticRegression(max_iter=2000, class_weight="balanced", random_state=seed))
    classifier.fit(texts, labels)
    truth = {name: entry.held_out_lines for name, entry in lines.items()}
    return classifier, classify(classifier, truth, list(lines))


def classify(classifier: Any, texts: dict[str, list[str]], classes: list[str]) -> dict[str, Any]:
    """Predict the speaker of every text of ``texts`` (``{true class: [text]}``): ``{"accuracy",
    "chance", "confusion": {true: {predicted: count}}, "recall": {true: share right}, "predictions"}``."""
    confusion = {name: {other: 0 for other in classes} for name in texts}
    predictions: dict[str, list[str]] = {}
    for name, items in texts.items():
        predictions[name] = [str(label) for label in classifier.predict(list(items))] if items else []
        for label in predictions[name]:
            confusion[name][label] += 1
    total = sum(len(items) for items in texts.values())
    right = sum(confusion[name].get(name, 0) for name in texts)
    return {"accuracy": right / total if total else 0.0, "chance": 1 / len(classes), "confusion": confusion,
            "recall": {name: (confusion[name].get(name, 0) / len(items) if items else 0.0)
                       for name, items in texts.items()},
            "predictions": predictions}


def generate_replies(engine: Any, names: dict[str, str], prompts: Sequence[str], max_new_tokens: int,
                     progress: bool | None = None) -> dict[str, list[str]]:
    """Greedy replies of every character of ``names`` (``{adapter id: character name}``) to every prompt,
    through the chat service ``engine`` (requests sent together, so its worker batches them); a progress
    bar over the generations shows on a terminal."""
    jobs = [(adapter, prompt) for adapter in names for prompt in prompts]

    def ask(job: tuple[str, str]) -> str:
        return engine.reply(names[job[0]], [{"role": "user", "content": job[1]}], max_new_tokens=max_new_tokens)

    replies: dict[str, list[str]] = {adapter: [] for adapter in names}
    with ThreadPoolExecutor(max_workers=8) as pool:
        for (adapter, _), reply in zip(jobs, _progress(pool.map(ask, jobs), len(jobs), progress)):
            replies[adapter].append(reply)
    return replies


def distinct_n(texts: Iterable[str], n: int) -> float:
    """Distinct n-grams over all n-grams of the texts' lower-cased words (0 when there is none)."""
    grams = [tuple(words[i:i + n]) for words in (_WORD.findall(text.lower()) for text in texts)
             for i in range(len(words) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def degenerate(prompt: str, reply: str) -> bool:
    """A reply that is empty (no word) or repeats the prompt (the prompt's words in order inside it)."""
    words, asked = " ".join(_WORD.findall(reply.lower())), " ".join(_WORD.findall(prompt.lower()))
    return not words or (bool(asked) and asked in words)


def diversity(prompts: Sequence[str], replies: dict[str, list[str]]) -> dict[str, dict[str, float]]:
    """``{adapter: {"distinct_1", "distinct_2", "degenerate"}}`` (the last: share empty or prompt-repeating)."""
    return {name: {"distinct_1": distinct_n(texts, 1), "distinct_2": distinct_n(texts, 2),
                   "degenerate": sum(degenerate(p, r) for p, r in zip(prompts, texts)) / max(1, len(texts))}
            for name, texts in replies.items()}


def scorecard(course: Course, folder: Path, base_model: str | None = None, *,
              prompts_per_character: int = DEFAULT_PROMPTS_PER_CHARACTER,
              max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS, log: Callable[[str], None] = print,
              progress: bool | None = None) -> dict[str, Any]:
    """The whole scorecard of the adapters under ``folder`` (see the module docstring) as plain data."""
    from . import chat
    from .serve import characters_from

    adapters = find_adapters(folder)
    if not adapters:
        raise PersonaError(f"no adapters in {folder}; train one first, e.g. "
                           f"`course persona train --character Holmes --out {folder}/holmes`")
    if prompts_per_character < 1 or max_new_tokens < 1:
        raise PersonaError("--prompts and --max-new-tokens must be at least 1")
    held_out = adapters[0][1].get("settings", {}).get("held_out") or course.persona.training["held_out"]
    lines = course_lines(course, held_out)
    unknown = [summary["id"] for _, summary in adapters if summary["id"] not in lines]
    if unknown:
        raise PersonaError(f"adapters {', '.join(unknown)} are no characters of {course.path} "
                           f"({', '.join(lines)}); the scorecard compares the course's characters")
    order = list(lines)
    adapters.sort(key=lambda adapter: order.index(adapter[1]["id"]))   # rows in the characters' order
    _, finetune = reference_modules(course)
    base_model = base_model or adapters[0][1]["base_model"]

    model, tokenizer, _ = load_model(base_model)
    matrix = perplexity_matrix(finetune, model, tokenizer, adapters,
                               {name: entry.held_out_lines for name, entry in lines.items()}, log)
    classifier, book_report = train_speaker_classifier(lines)
    log(f"speaker classifier on held-out book lines: accuracy {book_report['accuracy']:.2f} "
        f"(chance {book_report['chance']:.2f})")

    prompts = held_out_prompts(lines, prompts_per_character)
    service = reference_module(course, "service")
    fresh, tokenizer, _ = load_model(base_model)   # the PeftModel above changed the first copy
    try:
        engine = chat.ChatEngine(fresh, tokenizer, characters_from(folder), service=service)
    except (ValueError, FileNotFoundError) as error:
        raise PersonaError(str(error)) from None
    names = {summary["id"]: summary["character"] for _, summary in adapters}
    log(f"generating {len(prompts)} greedy replies of {max_new_tokens} tokens at most per adapter")
    replies = generate_replies(engine, names, prompts, max_new_tokens, progress)
    speakers = classify(classifier, replies, list(lines))
    return {
        "base_model": base_model, "characters": {name: entry.character.character for name, entry in lines.items()},
        "adapters": {summary["id"]: str(path) for path, summary in adapters},
        "training_seconds": {summary["id"]: summary.get("training_seconds") for _, summary in adapters},
        "held_out_lines": {name: len(entry.held_out) for name, entry in lines.items()},
        "perplexity": matrix, "relative_change": relative_change(matrix), "dominance": dominance(matrix),
        "classifier_on_book_lines": {key: book_report[key] for key in ("accuracy", "chance", "confusion", "recall")},
        "speaker_of_replies": {key: speakers[key] for key in ("accuracy", "chance", "confusion", "recall")},
        "diversity": diversity(prompts, replies), "max_new_tokens": max_new_tokens,
        "prompts": prompts, "replies": replies, "predicted_speakers": speakers["predictions"],
    }


def render(card: dict[str, Any]) -> str:
    """The scorecard as a terminal table."""
    names = list(card["characters"])
    matrix, change = card["perplexity"], card["relative_change"]
    corner = "perplexity \\ held-out of"
    rows = [f"Persona scorecard on {card['base_model']}", "",
            f"{corner:<26}" + "".join(f"{name:>18}" for name in names)]
    rows.append("-" * len(rows[-1]))
    for model_name, values in matrix.items():
        label = "base model" if model_name == "base" else f"adapter {model_name}"
        cells = []
        for name in names:
            mark = "*" if model_name == name else " "
            delta = "" if model_name == "base" else f" {change[model_name][name]:+.0%}"
            cells.append(f"{values[name]:.2f}{mark}{delta}".rjust(18))
        rows.append(f"{label:<26}" + "".join(cells))
    dom = card["dominance"]
    failed = [f"{name} (lowest: {entry['best']})" for name, entry in dom["characters"].items() if not entry["dominant"]]
    worse = [name for name, entry in dom["characters"].items() if not entry["better_than_base"]]
    rows += ["* own adapter; change against the base model in %", "",
             f"diagonal dominance: {dom['count']}/{dom['of']}" + (f"; not dominant: {', '.join(failed)}" if failed else ""),
             f"own held-out perplexity worse than the base model: {', '.join(worse) if worse else 'none'}", ""]
    book, said = card["classifier_on_book_lines"], card["speaker_of_replies"]
    rows.append(f"speaker classifier (TF-IDF + logistic regression) on held-out book lines: accuracy "
                f"{book['accuracy']:.2f} (chance {book['chance']:.2f})")
    rows.append(f"speaker of the adapters' replies ({len(card['prompts'])} held-out user turns each): accuracy "
                f"{said['accuracy']:.2f} = {said['accuracy'] / said['chance']:.1f}x chance ({said['chance']:.2f})")
    corner = "replies of \\ classified as"
    rows.append(f"{corner:<26}" + "".join(f"{name:>11}" for name in names) + f"{'recall':>9}{'dist-1':>8}"
                f"{'dist-2':>8}{'empty/echo':>11}")
    for adapter, counts in said["confusion"].items():
        spread = card["diversity"][adapter]
        rows.append(f"{'adapter ' + adapter:<26}" + "".join(f"{counts[name]:>11}" for name in names)
                    + f"{said['recall'][adapter]:>9.2f}{spread['distinct_1']:>8.2f}{spread['distinct_2']:>8.2f}"
                    + f"{spread['degenerate']:>11.0%}")
    return "\n".join(rows)


# The heatmap's colours: log2 of perplexity over the base model's, capped at half and at double, so that
# one adapter that blew up (+4000%) does not wash out the -20% that tell the characters apart.
COLOUR_CAP = 1.0


def colour(relative_change: float) -> float:
    """The heatmap's colour value of a perplexity ``relative_change`` against the base model (-0.27: 27%
    lower): log2 of the ratio, within +-:data:`COLOUR_CAP`."""
    return max(-COLOUR_CAP, min(COLOUR_CAP, math.log2(max(1 + relative_change, 2 ** -COLOUR_CAP))))


def plot(card: dict[str, Any], path: Path) -> Path:
    """A PNG: the perplexity heatmap (change against the base model) beside the confusion matrix."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    names = list(card["characters"])
    change = card["relative_change"]
    adapters = list(change)
    said = card["speaker_of_replies"]["confusion"]
    figure, (left, right) = pyplot.subplots(1, 2, figsize=(11, 4.5))
    values = [[change[adapter][name] * 100 for name in names] for adapter in adapters]
    image = left.imshow([[colour(change[adapter][name]) for name in names] for adapter in adapters], cmap="RdBu_r",
                        vmin=-COLOUR_CAP, vmax=COLOUR_CAP)
    for i, adapter in enumerate(adapters):
        for j, name in enumerate(names):
            left.text(j, i, f"{card['perplexity'][adapter][name]:.1f}\n{values[i][j]:+.0f}%", ha="center",
                      va="center", fontsize=8, fontweight="bold" if adapter == name else "normal",
                      color="white" if abs(colour(change[adapter][name])) > 0.6 * COLOUR_CAP else "black")
    left.set(xticks=range(len(names)), xticklabels=names, yticks=range(len(adapters)),
             yticklabels=[f"adapter {a}" for a in adapters], xlabel="held-out lines of",
             title=f"perplexity (change vs base); dominance {card['dominance']['count']}/{card['dominance']['of']}")
    bar = figure.colorbar(image, ax=left, label="perplexity against the base model")
    ticks = [-COLOUR_CAP, -COLOUR_CAP / 2, 0.0, COLOUR_CAP / 2, COLOUR_CAP]
    bar.set_ticks(ticks, labels=[("\u2265" if tick == COLOUR_CAP else "\u2264" if tick == -COLOUR_CAP else "")
                                 + f"{2 ** tick:.2g}x" for tick in ticks])
    counts = [[said[adapter][name] for name in names] for adapter in said]
    right.imshow(counts, cmap="Blues")
    most = max(map(max, counts))
    for i, row in enumerate(counts):
        for j, count in enumerate(row):
            right.text(j, i, str(count), ha="center", va="center", color="white" if count > 0.6 * most else "black")
    right.set(xticks=range(len(names)), xticklabels=names, yticks=range(len(said)),
              yticklabels=[f"adapter {a}" for a in said], xlabel="classified as",
              title=f"speaker of replies: accuracy {card['speaker_of_replies']['accuracy']:.2f} "
                    f"(chance {card['speaker_of_replies']['chance']:.2f})")
    figure.suptitle(f"persona scorecard, {card['base_model']}")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    pyplot.close(figure)
    return path


def write(card: dict[str, Any], out: Path) -> tuple[Path, Path]:
    """Write ``scorecard.json`` and ``scorecard.png`` into ``out``; returns both paths."""
    import json

    out.mkdir(parents=True, exist_ok=True)
    (out / SCORECARD_JSON).write_text(json.dumps(card, indent=2) + "\n")
    return out / SCORECARD_JSON, plot(card, out / SCORECARD_PNG)


def _progress(items: Iterable, total: int, show: bool | None):
    """A tqdm bar over the generations on a terminal (or when ``show``), the plain iterable elsewhere."""
    if not (sys.stderr.isatty() if show is None else show):
        return items
    from tqdm.auto import tqdm

    return tqdm(items, total=total, desc="generating replies", unit="reply")
