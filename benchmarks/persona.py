"""Can a person tell the course's characters apart? Train (or reuse) their adapters and run the scorecard.

Usage: nice -n 19 python benchmarks/persona.py [--base-model smollm2-135m-instruct|gemma3-270m]
           [--adapters DIR] [--retrain] [--characters holmes alice ...] [--steps N] [--lr X] [--r N]
           [--alpha X] [--batch-size N] [--max-length N] [--prompts 4] [--max-new-tokens 48]
           [--label before] [--out benchmarks/results/persona-<base>-<label>.json]

Trains every character of ``course.yml`` (``persona.characters``) with ``course persona train``'s own
code (:func:`autograder.tools.persona.train`) and the training settings of ``persona.training``, with
``persona.training_by_model`` of that base model over them (each overridable here), into ``--adapters`` (default ``adapters/bench-<base model>-<label>/``; an adapter
whose ``summary.json`` shows the same base model and settings is reused unless ``--retrain``), then runs
the persona scorecard (:mod:`autograder.tools.scorecard`, what ``course persona eval`` prints) and prints
its table, the training time of each character, and the goals of issue 19:

- diagonal dominance: every character's own adapter has the lowest perplexity on their held-out lines;
- speaker accuracy of the generated replies at least 2.5x chance, each character recognised above chance;
- no character's own held-out perplexity worse than the base model's;
- training of one character under 10 minutes (on the machine it ran on: say how loaded it was).

A failed goal is printed as FAIL; the exit code stays 0: this measures, it does not test. Real runs take
many minutes on 2 cores: run them under ``nice -n 19`` on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from autograder.parts import load_course
from autograder.tools import persona, scorecard
from common import RESULTS, write_results

ROOT = Path(__file__).resolve().parent.parent
OVERRIDES = (("steps", int), ("lr", float), ("r", int), ("alpha", float), ("batch_size", int),
             ("max_length", int), ("seed", int))
TRAINING_LIMIT_S = 600


def goals(card: dict, seconds: dict[str, float]) -> list[tuple[str, bool, str]]:
    """The issue's goals as ``(goal, met, figures)``."""
    dominance, said = card["dominance"], card["speaker_of_replies"]
    worse = [name for name, entry in dominance["characters"].items() if not entry["better_than_base"]]
    below = [name for name, recall in said["recall"].items() if recall <= said["chance"]]
    slowest = max(seconds.values()) if seconds else 0.0
    return [
        ("diagonal dominance 4/4", dominance["count"] == dominance["of"] == len(card["characters"]),
         f"{dominance['count']}/{dominance['of']}"),
        ("speaker accuracy >= 2.5x chance", said["accuracy"] >= 2.5 * said["chance"],
         f"{said['accuracy']:.2f} = {said['accuracy'] / said['chance']:.2f}x chance"),
        ("every character recognised above chance", not below, f"at or below chance: {', '.join(below) or 'none'}"),
        ("no own perplexity worse than base", not worse, f"worse: {', '.join(worse) or 'none'}"),
        ("one character's training under 10 minutes", slowest < TRAINING_LIMIT_S, f"slowest {slowest:.0f} s"),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-model", default=None, help="default: persona.base_model of course.yml")
    parser.add_argument("--adapters", help="folder of the adapters (default adapters/bench-<base>-<label>)")
    parser.add_argument("--retrain", action="store_true", help="train even where a matching adapter exists")
    parser.add_argument("--characters", nargs="+", help="train only these (default: every one of course.yml)")
    parser.add_argument("--prompts", type=int, default=scorecard.DEFAULT_PROMPTS_PER_CHARACTER)
    parser.add_argument("--max-new-tokens", type=int, default=scorecard.DEFAULT_MAX_NEW_TOKENS)
    parser.add_argument("--label", default="defaults", help="names the run in the result file (e.g. before)")
    parser.add_argument("--out", help="result JSON (default benchmarks/results/persona-<base>-<label>.json)")
    for name, kind in OVERRIDES:
        parser.add_argument(f"--{name.replace('_', '-')}", dest=name, type=kind, help=f"override training.{name}")
    args = parser.parse_args()

    course = load_course(ROOT / "course.yml")
    base = args.base_model or course.persona.base_model
    training = course.persona.training_for(base)
    training.update({name: getattr(args, name) for name, _ in OVERRIDES if getattr(args, name) is not None})
    folder = Path(args.adapters or ROOT / "adapters" / f"bench-{base}-{args.label}")
    wanted = args.characters or list(course.persona.characters)
    seconds: dict[str, float] = {}
    for name in wanted:
        character = course.persona.find(name)
        if character is None:
            parser.error(f"{name!r} is no character of course.yml")
        out = folder / character.id
        summary_path = out / persona.SUMMARY
        if not args.retrain and summary_path.is_file():
            summary = json.loads(summary_path.read_text())
            if summary.get("base_model") == base and summary.get("settings") == training:
                print(f"{character.character}: reusing {out} (trained in {summary['training_seconds']} s)", flush=True)
                seconds[character.id] = summary["training_seconds"]
                continue
        summary = persona.train(course, persona.TrainRequest(character, out, base, training),
                                log=lambda line: print(line, flush=True))
        seconds[character.id] = summary["training_seconds"]

    card = scorecard.scorecard(course, folder, base, prompts_per_character=args.prompts,
                               max_new_tokens=args.max_new_tokens, log=lambda line: print(line, flush=True))
    scorecard.write(card, folder)
    print()
    print(scorecard.render(card))
    print("\ntraining seconds per character: " + ", ".join(f"{name} {value:.0f}" for name, value in seconds.items())
          + f" (nice {os.nice(0)}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end)")
    checked = goals(card, seconds)
    for goal, met, figures in checked:
        print(f"{'ok  ' if met else 'FAIL'} {goal}: {figures}")
    out = Path(args.out or RESULTS / f"persona-{base}-{args.label}.json")
    write_results(out, {"label": args.label, "base_model": base, "training": training,
                        "training_seconds": seconds, "nice": os.nice(0), "command": " ".join(sys.argv),
                        "goals": [{"goal": goal, "met": met, "figures": figures} for goal, met, figures in checked],
                        "scorecard": card})
    return 0


if __name__ == "__main__":
    sys.exit(main())
