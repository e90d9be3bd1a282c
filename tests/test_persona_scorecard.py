"""The persona scorecard (`course persona eval`, autograder/tools/scorecard.py) on tiny random models and
synthetic books: every figure and file is produced, and a planted mix-up (two adapters trained on each
other's character's lines) shows up as a dominance failure. The real four-character run is
benchmarks/persona.py, not a test."""

from __future__ import annotations

import json
import math
import random
from dataclasses import replace
from pathlib import Path

import pytest

from autograder.core.config import PersonaCharacter
from autograder.runtime.tiny_models import byte_tokenizer, tiny_llama
from autograder.tools import persona, scorecard

# Each character speaks words of letters of their own, so a tiny byte-level model learns them in a few steps.
LETTERS = {"holmes": "abcdef", "alice": "ghijkl", "juliet": "mnopqr"}
OTHER = "stuvwxyz"
WIDTH = 64   # what the other speakers of every book say (the prompts)
TRAINING = {"r": 8, "alpha": 16, "dropout": 0.0, "steps": 30, "lr": 0.02, "batch_size": 8, "max_length": 160,
            "seed": 0, "held_out": 0.1}


def write_book(path: Path, name: str, letters: str, seed: int, lines: int = 50) -> None:
    rng = random.Random(seed)
    vocabulary = {alphabet: ["".join(rng.choice(alphabet) for _ in range(rng.randint(3, 6))) for _ in range(10)]
                  for alphabet in (letters, OTHER)}

    def words(alphabet: str, count: int) -> str:
        return " ".join(rng.choice(vocabulary[alphabet]) for _ in range(count))

    paragraphs = ["*** START OF THE PROJECT GUTENBERG EBOOK TEST ***"]
    for _ in range(lines):
        paragraphs += [f'"{words(OTHER, 4)}," said Watson.', f'"{words(letters, 5)}," said {name}.']
    paragraphs.append("*** END OF THE PROJECT GUTENBERG EBOOK TEST ***")
    path.write_text("\n\n".join(paragraphs) + "\n")


@pytest.fixture(scope="module")
def setup(tmp_path_factory, course):
    """A course whose persona section has three synthetic characters, and a tiny base model."""
    root = tmp_path_factory.mktemp("scorecard")
    shelf = root / "books"
    shelf.mkdir()
    characters = {}
    for number, (cid, letters) in enumerate(LETTERS.items()):
        book = str(990_000 + number)
        write_book(shelf / f"{book}-test.txt", cid.title(), letters, seed=number)
        characters[cid] = PersonaCharacter(id=cid, book=book, character=cid.title(), aliases=(),
                                            system_prompt=f"You are {cid}.")
    tiny = replace(course, persona=replace(course.persona, library=shelf, characters=characters,
                                           training=dict(TRAINING)))
    tokenizer, model = byte_tokenizer(), root / "model"
    tiny_llama(seed=3, vocab_size=len(tokenizer), hidden_size=WIDTH).save_pretrained(model)
    tokenizer.save_pretrained(model)
    return tiny, model, root


def train(course, model: Path, out: Path, character: PersonaCharacter) -> None:
    persona.train(course, persona.TrainRequest(character, out, str(model), dict(TRAINING)), log=lambda _: None)


def test_the_scorecard_produces_every_figure_and_file(setup):
    course, model, root = setup
    folder = root / "honest"
    for character in course.persona.characters.values():
        train(course, model, folder / character.id, character)
    card = scorecard.scorecard(course, folder, prompts_per_character=2, max_new_tokens=6, log=lambda _: None,
                               progress=False)
    names = ["holmes", "alice", "juliet"]
    assert list(card["perplexity"]) == ["base", *names] and all(list(row) == names for row in card["perplexity"].values())
    # the held-out lines are the ones training held out (one split function): every tenth of 50
    assert card["held_out_lines"] == {name: 5 for name in names}
    summary = json.loads((folder / "holmes" / persona.SUMMARY).read_text())
    held_out = persona.character_examples(course, course.persona.characters["holmes"], TRAINING["held_out"])[1]
    assert summary["held_out_lines"] == [example["messages"][-1]["content"] for example in held_out]
    change = card["relative_change"]
    assert change["holmes"]["alice"] == pytest.approx(card["perplexity"]["holmes"]["alice"]
                                                      / card["perplexity"]["base"]["alice"] - 1)
    assert card["dominance"]["count"] == 3 and card["dominance"]["of"] == 3
    assert all(entry["better_than_base"] for entry in card["dominance"]["characters"].values())
    # the classifier tells the synthetic characters apart on held-out book lines
    assert card["classifier_on_book_lines"]["accuracy"] == 1.0 and card["classifier_on_book_lines"]["chance"] == 1 / 3
    said = card["speaker_of_replies"]
    assert len(card["prompts"]) == 6 and all(len(card["replies"][name]) == 6 for name in names)
    assert all(sum(row.values()) == 6 for row in said["confusion"].values()) and 0 <= said["accuracy"] <= 1
    assert set(card["diversity"]) == set(names)
    assert all(0 <= value <= 1 for row in card["diversity"].values() for value in row.values())
    table = scorecard.render(card)
    assert "diagonal dominance: 3/3" in table and "adapter juliet" in table and "x chance" in table
    json_path, png_path = scorecard.write(card, root / "out")
    assert json.loads(json_path.read_text())["dominance"]["count"] == 3
    assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_adapters_trained_on_each_others_lines_fail_dominance(setup):
    course, model, root = setup
    folder = root / "planted"
    holmes, alice, juliet = (course.persona.characters[name] for name in ("holmes", "alice", "juliet"))
    train(course, model, folder / "alice", alice)
    # the mix-up: Holmes's adapter is trained on Juliet's lines, and Juliet's on Holmes's
    train(course, model, folder / "holmes", replace(holmes, book=juliet.book, aliases=("Juliet",)))
    train(course, model, folder / "juliet", replace(juliet, book=holmes.book, aliases=("Holmes",)))
    card = scorecard.scorecard(course, folder, prompts_per_character=1, max_new_tokens=4, log=lambda _: None,
                               progress=False)
    dominance = card["dominance"]
    assert dominance["count"] == 1 and dominance["of"] == 3
    assert {name for name, entry in dominance["characters"].items() if not entry["dominant"]} == {"holmes", "juliet"}
    assert dominance["characters"]["holmes"]["best"] == "juliet" and dominance["characters"]["juliet"]["best"] == "holmes"
    assert "diagonal dominance: 1/3; not dominant: holmes (lowest: juliet), juliet (lowest: holmes)" in \
        scorecard.render(card)


def test_diversity_counts_distinct_words_and_degenerate_replies():
    assert scorecard.distinct_n(["a b a b"], 1) == 0.5 and scorecard.distinct_n(["a b a b"], 2) == 2 / 3
    assert scorecard.distinct_n([""], 2) == 0.0
    assert scorecard.degenerate("Who are you?", "  ") and scorecard.degenerate("Who are you?", "Who are you? I ask.")
    assert not scorecard.degenerate("Who are you?", "I am Juliet.")
    assert scorecard.diversity(["q", "q"], {"x": ["", "fine words"]})["x"]["degenerate"] == 0.5


def test_one_adapter_that_blew_up_does_not_wash_out_the_heatmaps_colours():
    """The gemma3-270m run at 150 steps had one cell at +4421%: on a linear scale every -27% was white."""
    assert scorecard.colour(-0.27) == pytest.approx(math.log2(0.73))
    assert scorecard.colour(0.0) == 0.0
    assert scorecard.colour(44.21) == scorecard.COLOUR_CAP and scorecard.colour(-0.9) == -scorecard.COLOUR_CAP
    assert abs(scorecard.colour(-0.27)) > 0.4 * scorecard.COLOUR_CAP
