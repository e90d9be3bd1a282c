"""``course similarity``: copies are found under every disguise, independent work and starter code are not,
and the class is read through the grader's safe reader (a broken zip is listed, never fatal).

The disguises are the benchmark's own (``benchmarks/similarity.py``); the class here is small (a dozen
submissions, seconds); the 500-submission run and the comparison with Dolos and copydetect are the
benchmark's."""

from __future__ import annotations

import csv
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from autograder.commands.cli import main
from autograder.tools.similarity.fingerprints import K, WINDOW, kgram_hashes, winnow
from autograder.tools.similarity.tokens import notebook_document, python_document
from conftest import ROOT

sys.path.insert(0, str(ROOT))
from benchmarks.similarity import LEVELS, disguise_notebook, disguise_python  # noqa: E402

PACKAGE = "lora_lab"
CORPUS = ROOT / "benchmarks" / "similarity_corpus"
ALTERNATES = ROOT / "tests" / "parts"


def _submission(folder: Path, modules: dict[str, str], notebook: str | None = None) -> Path:
    """The release (stubs, the notebook as handed out) with ``modules`` replaced."""
    shutil.copytree(ROOT / "assignments" / "lora" / PACKAGE, folder / PACKAGE,
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "assignments" / "lora" / "lecture.ipynb", folder / "lecture.ipynb")
    for name, text in modules.items():
        (folder / PACKAGE / name).write_text(text, encoding="utf-8")
    if notebook is not None:
        (folder / "lecture.ipynb").write_text(notebook, encoding="utf-8")
    return folder


def _reference(name: str) -> str:
    return (ROOT / "solutions" / "lora" / PACKAGE / name).read_text(encoding="utf-8")


REFERENCE_MODULES = ("matmul.py", "linear.py", "lowrank.py", "lora.py", "finetune.py", "persona.py", "service.py")


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    """A class: the reference, its copy at every disguise level, three independent submissions, a partial
    copy of one module, a copy of the notebook alone, two that submitted the stubs, two unreadable ones."""
    root = tmp_path_factory.mktemp("class")
    klass = root / "class"
    reference = {name: _reference(name) for name in REFERENCE_MODULES}
    notebook = (ROOT / "solutions" / "lora" / "lecture.ipynb").read_text(encoding="utf-8")
    _submission(klass / "ref", reference, notebook)
    for number, level in enumerate(LEVELS):
        _submission(klass / f"copy-{level}", {name: disguise_python(text, level, number)
                                              for name, text in reference.items()},
                    disguise_notebook(notebook, level, number))
    for name in ("ind_a", "ind_b", "ind_c"):
        _submission(klass / name, {path.name: path.read_text() for path in (CORPUS / name).glob("*.py")})
    alternates = {"lowrank.py": ALTERNATES / "lowrank" / "alternates" / "lowrank_full_matrices.py",
                  "lora.py": ALTERNATES / "lora" / "alternates" / "lora_peft.py"}
    _submission(klass / "alt", {name: path.read_text() for name, path in alternates.items()})
    partial = {path.name: path.read_text() for path in (CORPUS / "ind_b").glob("*.py")}
    partial["lora.py"] = disguise_python(reference["lora.py"], "rename", 5)
    _submission(klass / "partial-lora", partial)
    _submission(klass / "notebook-only", {}, disguise_notebook(notebook, "rename", 9))
    _submission(klass / "stubs-1", {})
    _submission(klass / "stubs-2", {})
    (klass / "broken.zip").write_bytes(b"PK\x03\x04 not a zip")
    (klass / "no-package").mkdir()
    (klass / "no-package" / "notes.txt").write_text("forgot the code")
    (klass / "README.txt").write_text("not a submission")
    out = root / "report"
    code = main(["similarity", str(klass), "--out", str(out)])
    assert code == 0
    return out


def _pairs(out: Path) -> list[dict[str, str]]:
    with (out / "pairs.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_pairs_csv_columns_order_and_symmetry(report):
    rows = _pairs(report)
    assert list(rows[0]) == ["left", "right", "similarity", "longest_fragment", "total_overlap", "left_covered",
                             "right_covered", "flagged"]
    names = {"ref", *(f"copy-{level}" for level in LEVELS), "ind_a", "ind_b", "ind_c", "alt", "partial-lora",
             "notebook-only", "stubs-1", "stubs-2"}
    assert len(rows) == len(names) * (len(names) - 1) // 2          # every pair once
    assert {frozenset((row["left"], row["right"])) for row in rows} == {
        frozenset((a, b)) for a in names for b in names if a < b}
    values = [float(row["similarity"]) for row in rows]
    assert values == sorted(values, reverse=True) and all(0 <= value <= 1 for value in values)
    for row in rows:
        assert row["flagged"] == str(int(float(row["similarity"]) >= 0.45))   # course.yml's default
        assert int(row["total_overlap"]) == min(int(row["left_covered"]), int(row["right_covered"]))


def test_every_disguise_and_partial_copy_flagged_and_nothing_else(report):
    flagged = {frozenset((row["left"], row["right"])) for row in _pairs(report) if row["flagged"] == "1"}
    family = ["ref", *(f"copy-{level}" for level in LEVELS)]
    expected = {frozenset((a, b)) for a in family for b in family if a < b}
    expected |= {frozenset((name, "partial-lora")) for name in family}        # one module copied
    expected |= {frozenset((name, "notebook-only")) for name in family}       # the notebook's cells copied
    expected.add(frozenset(("ind_b", "partial-lora")))                         # ind_b's modules, and a copied one
    # two copies of the notebook alone, the heaviest disguise against a renamed one: 0.44 here, near the
    # threshold either way (each against the original is flagged)
    undecided = {frozenset(("copy-all", "notebook-only"))}
    flagged, expected = flagged - undecided, expected - undecided
    assert flagged == expected, (sorted(map(sorted, flagged - expected)), sorted(map(sorted, expected - flagged)))


def test_clusters_unreadable_and_report(report):
    with (report / "clusters.csv").open(encoding="utf-8", newline="") as handle:
        clusters = list(csv.DictReader(handle))
    assert len(clusters) == 1      # the reference's family, with the partial copy and the base it was put into
    assert set(clusters[0]["submissions"].split()) == {"ref", *(f"copy-{level}" for level in LEVELS),
                                                       "partial-lora", "notebook-only", "ind_b"}
    with (report / "unreadable.csv").open(encoding="utf-8", newline="") as handle:
        unreadable = {row["submission"]: row["reason"] for row in csv.DictReader(handle)}
    assert set(unreadable) == {"broken", "no-package"}
    assert "not a valid .zip" in unreadable["broken"] and "no lora_lab/" in unreadable["no-package"]
    page = (report / "report.html").read_text(encoding="utf-8")
    assert "A flag is a reason to look, never a verdict" in page
    assert 'class="line starter"' in page and 'class="line match"' in page
    assert "<script" not in page and "http" not in page.split("</style>", 1)[1]   # self-contained, nothing fetched


def test_normalised_tokens_see_through_renaming_layout_comments_and_annotations():
    source = _reference("matmul.py")
    plain = python_document("matmul.py", source).tokens
    for level in ("comments", "format", "rename"):
        assert python_document("matmul.py", disguise_python(source, level, 1)).tokens == plain, level
    annotated = "def f(x: int, y: list[int]) -> int:\n    '''Doc.'''\n    z: int = x + 1  # note\n    return z\n"
    bare = "def g(a, b):\n    c = (a +\n         1)\n    return c\n"
    assert python_document("m.py", annotated).tokens == python_document("m.py", bare).tokens
    loops = python_document("m.py", "for i in range(n):\n    t += a[i]\n").tokens
    assert python_document("m.py", "while i < n:\n    t += a[i]\n").tokens == loops
    broken = python_document("m.py", "def f(x:\n    return x +")   # does not parse: the lexer's tokens
    assert broken.tokens and "V" in broken.tokens


def test_notebook_code_cells_are_a_document():
    notebook = json.dumps({"cells": [{"cell_type": "markdown", "source": ["# Title"]},
                                     {"cell_type": "code", "source": ["%matplotlib inline\n", "x = 1\n"]},
                                     {"cell_type": "code", "source": "y = x + 2"}]})
    document = notebook_document("lecture.ipynb", notebook)
    assert document.tokens == python_document("m.py", "a = 1\nb = a + 2\n").tokens
    assert document.text.splitlines()[document.lines[-1] - 1] == "y = x + 2"
    assert notebook_document("x.ipynb", "[[[[" * 10000).tokens == ()      # hostile JSON: nothing, no crash


def test_winnowing_guarantee():
    """Any run of K + WINDOW - 1 tokens shared by two streams yields a fingerprint in both."""
    rng = np.random.default_rng(7)
    for _ in range(50):
        shared = rng.integers(1, 30, K + WINDOW - 1).astype(np.uint64)
        left = np.concatenate([rng.integers(1, 30, rng.integers(0, 40)).astype(np.uint64), shared,
                               rng.integers(1, 30, rng.integers(0, 40)).astype(np.uint64)])
        right = np.concatenate([rng.integers(1, 30, rng.integers(0, 40)).astype(np.uint64), shared])
        fingerprints = [set(kgram_hashes(side)[winnow(kgram_hashes(side))].tolist()) for side in (left, right)]
        assert fingerprints[0] & fingerprints[1]


def test_threshold_option_and_bad_threshold(report, tmp_path, capsys):
    klass = tmp_path / "class"
    _submission(klass / "a", {"matmul.py": _reference("matmul.py")})
    _submission(klass / "b", {"matmul.py": disguise_python(_reference("matmul.py"), "all", 3)})
    assert main(["similarity", str(klass), "--out", str(tmp_path / "out"), "--threshold", "0.99"]) == 0
    assert _pairs(tmp_path / "out")[0]["flagged"] == "0"
    assert main(["similarity", str(klass), "--out", str(tmp_path / "out"), "--threshold", "0"]) == 2
    assert "--threshold must be above 0" in capsys.readouterr().err


def test_report_in_chromium(report, tmp_path):
    """report.html as a person reads it: the ranking, then the first flagged pair side by side, its matching
    regions coloured alike on both sides and the starter code grey; a screenshot of it (also written to
    $SIMILARITY_SCREENSHOT when set)."""
    from test_browser import _chromium, _missing

    executable = _chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("Playwright is not installed (it is in the `test` extra)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True,
                                             args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            requests: list[str] = []
            page.on("request", lambda request: requests.append(request.url))
            page.goto((report / "report.html").as_uri())
            assert requests == [(report / "report.html").as_uri()]             # nothing else is fetched
            assert page.locator("table.rank tr.flagged").count() > 0
            # every submission of the cluster is in a pair shown side by side
            linked = page.locator("table.rank tr.flagged:has(a)").evaluate_all(
                "rows => rows.map(row => [row.cells[1].textContent, row.cells[2].textContent])")
            assert {name for pair in linked for name in pair} == {
                "ref", *(f"copy-{level}" for level in LEVELS), "partial-lora", "notebook-only", "ind_b"}
            number = next(index for index, pair in enumerate(linked)
                          if "partial-lora" in pair and "ind_b" not in pair)
            row = page.locator("table.rank tr.flagged:has(a)").nth(number)
            anchor = row.locator("a").get_attribute("href")
            row.locator("a").click()                                              # to the partial copy's pair
            section = page.locator(anchor)
            assert section.is_visible()
            assert page.locator(f"{anchor} + p + h3").text_content().startswith("lora.py")   # most similar first
            sides = page.locator(f"{anchor} ~ h3:has-text('lora.py') + .side").first   # the module it copied
            left, right = sides.locator("pre").nth(0), sides.locator("pre").nth(1)
            left_box, right_box = left.bounding_box(), right.bounding_box()
            assert left_box["x"] + left_box["width"] <= right_box["x"]          # side by side, not stacked
            assert abs(left_box["y"] - right_box["y"]) < 2
            colours = [set(pre.locator(".line.match").evaluate_all(
                "lines => lines.map(line => getComputedStyle(line).backgroundColor)")) for pre in (left, right)]
            assert colours[0] and colours[0] & colours[1]                       # a region in one colour on both
            grey = page.locator(".line.starter").first.evaluate("line => getComputedStyle(line).color")
            assert grey == "rgb(173, 181, 189)"
            for pre in (left, right):   # each side at its first matching line, as a reader scrolls
                pre.evaluate("pre => { const line = pre.querySelector('.match');"
                             " pre.scrollTop = line.offsetTop - pre.offsetTop - 80; }")
            sides.scroll_into_view_if_needed()
            page.evaluate("window.scrollBy(0, -60)")
            shot = tmp_path / "similarity-report.png"
            page.screenshot(path=str(shot))
            assert shot.stat().st_size > 10_000
            if os.environ.get("SIMILARITY_SCREENSHOT"):
                shutil.copy(shot, os.environ["SIMILARITY_SCREENSHOT"])
        finally:
            browser.close()
