"""How well ``course similarity`` tells copies from independent work, beside Dolos and copydetect.

A labelled corpus, built here, none of it graded:

* **independent** submissions: the reference (``solutions/lora``), the catalogue's whole-module alternates
  (``tests/parts/*/alternates/``, the ones not made by patching the reference) combined into two more,
  and three written for this benchmark (``benchmarks/similarity_corpus/``); a submission leaves the
  modules it has no version of as the release's stubs, and its notebook as handed out;
* **copies** of each independent submission at every disguise level: ``comments`` (comments and
  docstrings rewritten), ``format`` (reformatted), ``rename`` (every identifier renamed), ``reorder``
  (functions, methods and independent statements reordered), ``deadcode`` (dead statements and an unused
  function inserted), ``loop`` (``for`` loops rewritten as ``while``), ``all`` (every one of them at once);
* **partial** copies: an independent submission with one module taken from another and disguised
  (renamed and reformatted).

A pair is a copy when the two share a module of one origin, else independent. Reported per level:
recall at each tool's own threshold, false flags among independent pairs, ROC AUC of the similarity
score; then time and peak memory on 50 and 500 submissions. Dolos runs from ``@dodona/dolos-lib`` under
Node (``--dolos DIR``: a folder where ``npm install @dodona/dolos-lib`` was run), copydetect from PyPI
(``pip install copydetect``); each is skipped with a note when missing. Both get each submission as one
``.py`` file (its modules and the notebook's code cells) and the starter code as their template.

    .venv/bin/python benchmarks/similarity.py [--dolos /tmp/dolos] [--sizes 50 500] [--skip-scale]
"""

from __future__ import annotations

import argparse
import ast
import io
import json
import math
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tokenize
import zlib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autograder.core.config import load_course  # noqa: E402
from autograder.tools.similarity.tokens import notebook_cells  # noqa: E402

from benchmarks.common import RESULTS, write_results  # noqa: E402

LEVELS = ("comments", "format", "rename", "reorder", "deadcode", "loop", "all")
MODULES = ("matmul.py", "linear.py", "lowrank.py", "lora.py", "finetune.py", "persona.py", "service.py")
NOTEBOOK = "lecture.ipynb"


# ----------------------------------------------------------------------------- disguises

def _rewrite_comments(source: str, rng: random.Random) -> str:
    """Comments and docstrings reworded (layout kept)."""
    words = ["note", "here we", "compute", "the values", "step", "helper", "result", "check", "done", "loop"]
    edits: list[tuple[int, int, int, int, str]] = []
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            doc = body[0].value
            text = " ".join(rng.choice(words) for _ in range(6)).capitalize() + "."
            edits.append((doc.lineno, doc.col_offset, doc.end_lineno, doc.end_col_offset, repr(text)))
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.COMMENT:
                text = "# " + " ".join(rng.choice(words) for _ in range(4))
                edits.append((*token.start, *token.end, text))
    except tokenize.TokenError:
        return source
    lines = source.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    text = source
    for start_line, start_col, end_line, end_col, new in sorted(edits, reverse=True):
        start = offsets[start_line - 1] + start_col
        end = offsets[end_line - 1] + end_col
        text = text[:start] + new + text[end:]
    return text


class _Renamer(ast.NodeTransformer):
    def __init__(self, rng: random.Random) -> None:
        self.rng, self.names = rng, {}

    def new(self, name: str) -> str:
        if name.startswith("__") and name.endswith("__") or name in ("self", "cls"):
            return name
        if name not in self.names:
            self.names[name] = f"{self.rng.choice(['val', 'tmp', 'item', 'data', 'obj', 'thing'])}_{len(self.names)}"
        return self.names[name]

    def visit_Name(self, node):
        import builtins

        if not hasattr(builtins, node.id):
            node.id = self.new(node.id)
        return node

    def visit_arg(self, node):
        node.arg = self.new(node.arg)
        return self.generic_visit(node)

    def visit_FunctionDef(self, node):
        node.name = self.new(node.name)
        return self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node):
        node.name = self.new(node.name)
        return self.generic_visit(node)


def _names_in(node: ast.AST) -> set[str]:
    return {child.id for child in ast.walk(node) if isinstance(child, ast.Name)}


def _reorder_body(body: list[ast.stmt], rng: random.Random) -> list[ast.stmt]:
    """Functions and classes shuffled among themselves; adjacent independent assignments swapped."""
    defs = [index for index, node in enumerate(body) if isinstance(node, (ast.FunctionDef, ast.ClassDef,
                                                                           ast.AsyncFunctionDef))]
    shuffled = [body[index] for index in defs]
    rng.shuffle(shuffled)
    body = list(body)
    for index, node in zip(defs, shuffled):
        body[index] = node
    index = 0
    while index + 1 < len(body):
        first, second = body[index], body[index + 1]
        if isinstance(first, ast.Assign) and isinstance(second, ast.Assign):
            written_1 = {n for target in first.targets for n in _names_in(target)}
            written_2 = {n for target in second.targets for n in _names_in(target)}
            if not (written_1 & _names_in(second)) and not (written_2 & _names_in(first)):
                body[index], body[index + 1] = second, first
                index += 2
                continue
        index += 1
    return body


class _Reorderer(ast.NodeTransformer):
    def __init__(self, rng):
        self.rng = rng

    def generic_visit(self, node):
        super().generic_visit(node)
        if isinstance(getattr(node, "body", None), list) and node.body and isinstance(node.body[0], ast.stmt):
            node.body = _reorder_body(node.body, self.rng)
        return node


def _dead_expression(rng: random.Random, depth: int = 0) -> str:
    """A random expression over fresh names and literals (each copy gets code of its own shape)."""
    if depth > 1 or rng.random() < 0.3:
        return rng.choice([f"_d{rng.randrange(99)}", str(rng.randrange(100)), f"{rng.random():.2f}", "None",
                           "[]", "'x'"])
    kind = rng.randrange(5)
    left, right = _dead_expression(rng, depth + 1), _dead_expression(rng, depth + 1)
    if kind == 0:
        return f"({left} {rng.choice(['+', '-', '*', '%'])} {right})"
    if kind == 1:
        return f"{rng.choice(['len', 'str', 'abs', 'repr', 'bool', 'id'])}({left})"
    if kind == 2:
        return f"[{left}, {right}]"
    if kind == 3:
        return f"({left} if {right} else None)"
    return f"{{'k': {left}}}"


def _dead_statement(rng: random.Random, depth: int = 0) -> str:
    """One random dead statement (an unused assignment, a branch never taken, a print behind ``if False``)."""
    kind = rng.randrange(4 if depth == 0 else 2)
    if kind == 0:
        return f"_unused{rng.randrange(99)} = {_dead_expression(rng)}"
    if kind == 1:
        return f"_acc{rng.randrange(99)} = [{_dead_expression(rng)}]"
    body = "\n".join("    " + line for _ in range(rng.randrange(1, 3))
                     for line in _dead_statement(rng, depth + 1).splitlines())
    if kind == 2:
        return f"if False:\n{body}"
    return f"if {_dead_expression(rng)} is None and False:\n{body}"


class _DeadCode(ast.NodeTransformer):
    def __init__(self, rng):
        self.rng = rng

    def visit_FunctionDef(self, node):
        self.generic_visit(node)
        body = []
        for index, statement in enumerate(node.body):
            body.append(statement)
            if index % 3 == 1:
                body.extend(ast.parse(_dead_statement(self.rng)).body)
        node.body = body
        return node

    visit_AsyncFunctionDef = visit_FunctionDef


def _dead_module(tree: ast.Module, rng: random.Random, cell: bool = False) -> ast.Module:
    """Dead statements inside every function, and an unused helper function (in a notebook's cell: one
    dead statement at its end instead)."""
    tree = _DeadCode(rng).visit(tree)
    if cell:
        tree.body.extend(ast.parse(_dead_statement(rng)).body)
        return tree
    lines = "\n".join("    " + line for _ in range(4) for line in _dead_statement(rng).splitlines())
    helper = ast.parse(f"def _debug_helper(value):\n{lines}\n    return value\n").body
    tree.body[len(tree.body) // 2:len(tree.body) // 2] = helper
    return tree


class _ForToWhile(ast.NodeTransformer):
    """``for x in range(...)`` -> a counting ``while``; any other ``for`` -> ``while`` over an index."""

    def __init__(self):
        self.count = 0

    def visit_For(self, node):
        self.generic_visit(node)
        if node.orelse:
            return node
        self.count += 1
        i, seq = f"_i{self.count}", f"_seq{self.count}"
        iterable = ast.unparse(node.iter)
        target = ast.unparse(node.target)
        match = re.fullmatch(r"range\(([^,()]+)\)", iterable)
        if match and isinstance(node.target, ast.Name):
            head = ast.parse(f"{target} = -1").body
            loop = ast.parse(f"while {target} + 1 < {match.group(1)}:\n    {target} += 1").body[0]
        else:
            head = ast.parse(f"{seq} = list({iterable})\n{i} = -1").body
            loop = ast.parse(f"while {i} + 1 < len({seq}):\n    {i} += 1\n    {target} = {seq}[{i}]").body[0]
        loop.body.extend(node.body)
        return [*head, loop]


def disguise_python(source: str, level: str, seed: int, cell: bool = False) -> str:
    """``source`` (a module, or a notebook's ``cell``) disguised at ``level`` (deterministic for a seed)."""
    rng = random.Random(seed)
    if level == "comments":
        return _rewrite_comments(source, rng)
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source
    steps = {"format": [], "rename": ["rename"], "reorder": ["reorder"], "deadcode": ["dead"], "loop": ["loop"],
             "all": ["loop", "dead", "reorder", "rename"]}[level]
    for step in steps:
        if step == "rename":
            tree = _Renamer(rng).visit(tree)
        elif step == "reorder":
            tree = _Reorderer(rng).visit(tree)
        elif step == "dead":
            tree = _dead_module(tree, rng, cell)
        elif step == "loop":
            tree = _ForToWhile().visit(tree)
        ast.fix_missing_locations(tree)
    return ast.unparse(tree) + "\n"


def disguise_notebook(raw: str, level: str, seed: int) -> str:
    data = json.loads(raw)
    for number, cell in enumerate(data.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if any(line.lstrip().startswith(("%", "!")) for line in source.splitlines()):
            continue
        cell["source"] = disguise_python(source, level, seed + number, cell=True)
    return json.dumps(data, indent=1)


# ----------------------------------------------------------------------------- corpus

@dataclass
class Sub:
    name: str
    files: dict[str, str]                      # module or notebook name: text
    origin: dict[str, str] = field(default_factory=dict)   # name: origin id of its own (non-stub) code
    kind: str = "independent"                  # independent, a level, or partial


def _alternate_source(path: Path) -> str | None:
    text = path.read_text(encoding="utf-8")
    return None if re.search(r"^PATCH\s*=", text, re.M) else text


def originals(course) -> list[Sub]:
    assignment = course.assignment()
    release = assignment.release / assignment.package
    stubs = {name: (release / name).read_text(encoding="utf-8") for name in MODULES}
    stubs[NOTEBOOK] = (assignment.release / NOTEBOOK).read_text(encoding="utf-8")
    solution = assignment.solution / assignment.package
    subs = []

    def make(name: str, own: dict[str, str]) -> Sub:
        files = dict(stubs)
        files.update(own)
        return Sub(name, files, {module: f"{name}:{module}" for module in own})

    ref = {name: (solution / name).read_text(encoding="utf-8") for name in MODULES}
    ref[NOTEBOOK] = (assignment.solution / NOTEBOOK).read_text(encoding="utf-8")
    subs.append(make("ref", ref))
    alternates = ROOT / "tests" / "parts"
    sets = [{"matmul.py": "matmul/alternates/matmul_comprehensions.py",
             "linear.py": "linear/alternates/linear_reuses_part1.py",
             "lowrank.py": "lowrank/alternates/lowrank_eigh.py", "lora.py": "lora/alternates/lora_einsum.py",
             "finetune.py": "finetune/alternates/finetune_hf_loss.py",
             "persona.py": "finetune/alternates/persona_regex_free.py"},
            {"lowrank.py": "lowrank/alternates/lowrank_full_matrices.py", "lora.py": "lora/alternates/lora_peft.py"}]
    for number, chosen in enumerate(sets, start=1):
        own = {}
        for module, relative in chosen.items():
            text = _alternate_source(alternates / relative)
            if text is not None:
                own[module] = text
        subs.append(make(f"alt{number}", own))
    for folder in sorted((ROOT / "benchmarks" / "similarity_corpus").iterdir()):
        if folder.is_dir():
            own = {path.name: path.read_text(encoding="utf-8") for path in sorted(folder.glob("*.py"))}
            subs.append(make(folder.name, own))
    return subs


def disguised(sub: Sub, level: str, seed: int, name: str) -> Sub:
    files = {}
    for module, text in sub.files.items():
        if module not in sub.origin:
            files[module] = text          # stubs stay stubs
        elif module.endswith(".ipynb"):
            files[module] = disguise_notebook(text, level, seed)
        else:
            files[module] = disguise_python(text, level, seed)
    return Sub(name, files, dict(sub.origin), kind=level)


PARTIALS = [("ref", "lora.py", "alt2"), ("ref", "lowrank.py", "ind_a"), ("alt1", "lora.py", "ind_b"),
            ("ref", "service.py", "ind_c"), ("alt1", "persona.py", "alt2"), ("ref", "matmul.py", "alt2")]


def corpus(course, copies_per_level: int = 1, seed: int = 0) -> list[Sub]:
    base = originals(course)
    by_name = {sub.name: sub for sub in base}
    subs = list(base)
    for sub in base:
        for level in LEVELS:
            for copy in range(copies_per_level):
                suffix = f"-{copy}" if copies_per_level > 1 else ""
                subs.append(disguised(sub, level, seed + zlib.crc32(f"{sub.name}~{level}~{copy}".encode()),
                                      f"{sub.name}~{level}{suffix}"))
    for source, module, target in PARTIALS:
        if module not in by_name[source].origin:
            continue
        partial = Sub(f"{target}+{module.removesuffix('.py')}-of-{source}", dict(by_name[target].files),
                      dict(by_name[target].origin), kind="partial")
        partial.files[module] = disguise_python(by_name[source].files[module], "rename", seed + zlib.crc32(partial.name.encode()))
        partial.origin[module] = by_name[source].origin[module]
        subs.append(partial)
    return subs


def write_corpus(subs: list[Sub], folder: Path, package: str) -> None:
    for sub in subs:
        root = folder / sub.name
        (root / package).mkdir(parents=True)
        (root / package / "__init__.py").write_text("")
        for name, text in sub.files.items():
            (root / name if name.endswith(".ipynb") else root / package / name).write_text(text, encoding="utf-8")


def flat_python(files: dict[str, str]) -> str:
    """One .py of a submission: its modules, then its notebook's code cells (magics commented out)."""
    parts = []
    for name in sorted(files):
        if name.endswith(".ipynb"):
            for cell in notebook_cells(files[name]):
                parts.append("\n".join("# " + line if line.lstrip().startswith(("%", "!")) else line
                                       for line in cell.splitlines()))
        else:
            parts.append(files[name])
    return "\n\n".join(parts) + "\n"


def label(a: Sub, b: Sub) -> bool:
    """Copied: the two hold code of one origin."""
    return any(a.origin.get(module) == origin for module, origin in b.origin.items()) or \
        bool(set(a.origin.values()) & set(b.origin.values()))


def pair_kind(a: Sub, b: Sub) -> str:
    """The row of the table a copied pair counts in: the disguise level of the copy against its original,
    ``partial`` for a partial copy against its source, ``copy-copy`` for two disguised copies."""
    kinds = {a.kind, b.kind}
    if "partial" in kinds:
        return "partial"
    if "independent" in kinds:
        return (kinds - {"independent"}).pop() if len(kinds) > 1 else "identical"
    return "copy-copy"


# ----------------------------------------------------------------------------- the tools

RUNNER = ("import json, resource, subprocess, sys, time\n"
          "start = time.perf_counter()\n"
          "try:\n"
          "    done = subprocess.run(sys.argv[2:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,\n"
          "                          timeout=float(sys.argv[1]))\n"
          "    rc, err = done.returncode, done.stderr[-2000:]\n"
          "except subprocess.TimeoutExpired:\n"
          "    rc, err = 'timeout', f'still running after {sys.argv[1]} s'\n"
          "usage = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
          "print(json.dumps({'seconds': time.perf_counter() - start, 'rc': rc, 'peak_mb': usage.ru_maxrss / 1024,\n"
          "                  'cpu_seconds': usage.ru_utime + usage.ru_stime, 'stderr': err}))\n")
TIMEOUT = 900.0   # seconds one tool may take on one corpus


def measure(command: list[str]) -> dict:
    """Run ``command`` in a fresh process: its wall time and its peak resident memory (children included)."""
    done = subprocess.run([sys.executable, "-c", RUNNER, str(TIMEOUT), *command], capture_output=True, text=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result["rc"] != 0:
        raise RuntimeError(f"{Path(command[0]).name} failed ({result['rc']}, {result['seconds']:.0f} s, "
                           f"{result['peak_mb']:.0f} MB): {result['stderr'][-300:]}")
    return result


def run_ours(folder: Path, out: Path, threshold: float | None = None) -> tuple[dict[tuple[str, str], float], float, dict]:
    course = ROOT / ".venv" / "bin" / "course"
    command = [str(course), "--course", str(ROOT / "course.yml"), "similarity", str(folder), "--out", str(out)]
    if threshold is not None:
        command += ["--threshold", str(threshold)]
    cost = measure(command)
    scores = {}
    with (out / "pairs.csv").open(encoding="utf-8") as handle:
        import csv

        for row in csv.DictReader(handle):
            scores[tuple(sorted((row["left"], row["right"])))] = float(row["similarity"])
    from autograder.core.config import load_course as load

    return scores, threshold or load(ROOT / "course.yml").similarity.threshold, cost


DOLOS_SCRIPT = """
import { Dolos } from "@dodona/dolos-lib";
import { writeFileSync } from "node:fs";
const [out, ignore, ...paths] = process.argv.slice(2);
const dolos = new Dolos({ language: "python" });
const report = await dolos.analyzePaths(paths, ignore);
const rows = report.allPairs().map(p => [p.leftFile.path, p.rightFile.path, p.similarity]);
writeFileSync(out, JSON.stringify(rows));
"""


def dolos_cutoff(similarities: list[float], step: float = 0.03) -> float:
    """Dolos' own cut-off, as its report computes it for a class (``guessSimilarityThreshold`` of its web
    app, web/src/api/utils/cutoff.ts: the most significant local minimum of the histogram of
    similarities, weighted towards 0.8, and at least the mean)."""
    values = sorted(similarities)
    if not values:
        return 0.75
    mean = sum(values) / len(values)
    binned, upper, lower, next_step = [], 0, 0, step
    for value in values:
        while value >= next_step:
            binned.append(upper + lower)
            lower, upper = upper, 0
            next_step += step
        upper += 1
    binned.append(upper + lower)
    minima, direction = [], binned[0] < binned[1] if len(binned) > 1 else False
    for index in range(len(binned) - 1):
        going_up = binned[index] < binned[index + 1]
        if going_up != direction:
            if not direction:
                minima.append(index)
            direction = going_up

    def weight(index: float, top: float = 0.8) -> float:
        a = 0.9 / (1 / 3 - top + top * top)
        b = -2 * top * a
        c = -top * top * a - top * b + 0.1
        return round((a * index * index + b * index + c) * 1000) / 1000

    if not minima:
        return mean
    weighted = [(math.sqrt(binned[v]) + 1) * weight(v * step) for v in minima]
    best = 0
    for index, value in enumerate(weighted):
        best = best if weighted[best] < value else index
    return max(mean, minima[best] * step + step / 2)


def run_dolos(flat: Path, starter: Path, dolos: Path, work: Path) -> tuple[dict, float, dict] | str:
    if not (dolos / "node_modules" / "@dodona" / "dolos-lib").is_dir():
        return f"no @dodona/dolos-lib in {dolos} (npm install @dodona/dolos-lib there)"
    script = dolos / "similarity-benchmark.mjs"
    script.write_text(DOLOS_SCRIPT)
    out = work / "dolos.json"
    files = sorted(str(path) for path in flat.glob("*.py"))
    try:
        cost = measure(["node", str(script), str(out), str(starter), *files])
    except RuntimeError as error:
        return f"Dolos failed: {str(error)[-300:]}"
    scores = {}
    for left, right, value in json.loads(out.read_text()):
        scores[tuple(sorted((Path(left).stem, Path(right).stem)))] = value
    return scores, dolos_cutoff(list(scores.values())), cost


COPYDETECT_SCRIPT = """
import json, sys
from copydetect import CopyDetector
flat, starter, out = sys.argv[1:4]
detector = CopyDetector(test_dirs=[flat], boilerplate_dirs=[starter], extensions=["py"], silent=True,
                        autoopen=False, display_t=0.33)
detector.run()
import numpy as np
names = [str(p) for p in detector.test_files]
matrix = detector.similarity_matrix
rows = []
for i in range(len(names)):
    for j in range(i + 1, len(names)):
        a, b = matrix[i, j], matrix[j, i]
        rows.append([names[i], names[j], float(max(np.max(a), np.max(b)))])
json.dump(rows, open(out, "w"))
"""
COPYDETECT_THRESHOLD = 0.33   # copydetect's display_t default: pairs it reports


def run_copydetect(flat: Path, starter_folder: Path, work: Path) -> tuple[dict, float, dict] | str:
    try:
        import copydetect  # noqa: F401
    except ImportError:
        return "copydetect is not installed (pip install copydetect, for this benchmark only)"
    script = work / "copydetect_run.py"
    script.write_text(COPYDETECT_SCRIPT)
    out = work / "copydetect.json"
    try:
        cost = measure([sys.executable, str(script), str(flat), str(starter_folder), str(out)])
    except RuntimeError as error:
        return f"copydetect failed: {str(error)[-300:]}"
    scores = {}
    for left, right, value in json.loads(out.read_text()):
        scores[tuple(sorted((Path(left).stem, Path(right).stem)))] = value
    return scores, COPYDETECT_THRESHOLD, cost


# ----------------------------------------------------------------------------- scoring

def auc(positives: list[float], negatives: list[float]) -> float:
    """ROC AUC: the chance that a random copied pair scores above a random independent one (ties half)."""
    if not positives or not negatives:
        return float("nan")
    ordered = sorted([(value, 1) for value in positives] + [(value, 0) for value in negatives])
    rank_sum, index = 0.0, 0
    while index < len(ordered):
        end = index
        while end < len(ordered) and ordered[end][0] == ordered[index][0]:
            end += 1
        average = (index + 1 + end) / 2
        rank_sum += average * sum(1 for _, positive in ordered[index:end] if positive)
        index = end
    return (rank_sum - len(positives) * (len(positives) + 1) / 2) / (len(positives) * len(negatives))


def evaluate(subs: list[Sub], scores: dict, threshold: float) -> dict:
    by_name = {sub.name: sub for sub in subs}
    rows: dict[str, dict] = {}
    positives, negatives = [], []
    partial_source = {sub.name: sub.origin[sub.name.split("+")[1].split("-of-")[0] + ".py"]
                      for sub in subs if sub.kind == "partial"}
    for i, a in enumerate(subs):
        for b in subs[i + 1:]:
            value = scores.get(tuple(sorted((a.name, b.name))), 0.0)
            shared = set(a.origin.values()) & set(b.origin.values())
            if not shared:
                kind = "independent"
                negatives.append(value)
            else:
                positives.append(value)
                kind = pair_kind(a, b)
                if kind == "partial":
                    partial = a if a.kind == "partial" else b
                    kind = "partial" if shared == {partial_source[partial.name]} else "copy-copy"
            row = rows.setdefault(kind, {"pairs": 0, "flagged": 0, "scores": []})
            row["pairs"] += 1
            row["flagged"] += value >= threshold
            row["scores"].append(value)
    table = {}
    for kind, row in rows.items():
        table[kind] = {"pairs": row["pairs"], "flagged": row["flagged"],
                       "rate": row["flagged"] / row["pairs"],
                       "auc": auc(row["scores"], negatives) if kind != "independent" else None,
                       "min": min(row["scores"]), "max": max(row["scores"])}
    return {"threshold": threshold, "auc": auc(positives, negatives), "rows": table,
            "positives": len(positives), "negatives": len(negatives)}


def prepare(subs: list[Sub], work: Path, assignment) -> tuple[Path, Path, Path, Path]:
    """The corpus as submissions (folders), as one .py per submission, and the starter as one .py."""
    folder, flat, starter = work / "class", work / "flat", work / "starter"
    for path in (folder, flat, starter):
        path.mkdir(parents=True)
    write_corpus(subs, folder, assignment.package)
    for sub in subs:
        (flat / f"{sub.name}.py").write_text(flat_python(sub.files), encoding="utf-8")
    release = assignment.release
    stubs = {name: (release / assignment.package / name).read_text(encoding="utf-8") for name in MODULES}
    stubs[NOTEBOOK] = (release / NOTEBOOK).read_text(encoding="utf-8")
    (starter / "starter.py").write_text(flat_python(stubs), encoding="utf-8")
    return folder, flat, starter / "starter.py", starter


def scaled(subs: list[Sub], size: int) -> list[Sub]:
    """``size`` submissions for timing: the corpus, then further disguised copies (new seeds) of its
    independent submissions until there are ``size``."""
    out = list(subs[:size])
    base = [sub for sub in subs if sub.kind == "independent"]
    number = 0
    while len(out) < size:
        sub = base[number % len(base)]
        level = LEVELS[(number // len(base)) % len(LEVELS)]
        out.append(disguised(sub, level, zlib.crc32(f"{sub.name}~{level}~s{number}".encode()),
                             f"{sub.name}~{level}~s{number}"))
        number += 1
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dolos", default=os.environ.get("DOLOS_DIR", "/tmp/dolos"),
                        help="folder where `npm install @dodona/dolos-lib` was run")
    parser.add_argument("--sizes", type=int, nargs="*", default=[50, 500], help="class sizes to time")
    parser.add_argument("--skip-scale", action="store_true", help="only the labelled corpus")
    args = parser.parse_args()
    course = load_course(ROOT / "course.yml")
    assignment = course.assignment()
    subs = corpus(course)
    results: dict = {"corpus": {"submissions": len(subs),
                                "independent": sum(sub.kind == "independent" for sub in subs),
                                "levels": list(LEVELS), "partials": sum(sub.kind == "partial" for sub in subs)},
                     "tools": {}, "scale": {}}
    with tempfile.TemporaryDirectory(prefix="similarity-bench-") as tmp:
        work = Path(tmp)
        folder, flat, starter_file, starter_folder = prepare(subs, work / "labelled", assignment)
        runs = {"course similarity": run_ours(folder, work / "ours"),
                "Dolos": run_dolos(flat, starter_file, Path(args.dolos), work),
                "copydetect": run_copydetect(flat, starter_folder, work)}
        for tool, outcome in runs.items():
            if isinstance(outcome, str):
                results["tools"][tool] = {"skipped": outcome}
                continue
            scores, threshold, cost = outcome
            results["tools"][tool] = {**evaluate(subs, scores, threshold), "seconds": cost["seconds"],
                                      "cpu_seconds": cost["cpu_seconds"], "peak_mb": cost["peak_mb"]}
        print(render(results), file=sys.stderr, flush=True)   # the table, before the slow timings
        if not args.skip_scale:
            for size in args.sizes:
                many = scaled(subs, size)
                folder, flat, starter_file, starter_folder = prepare(many, work / f"scale{size}", assignment)
                timing = {}
                for tool, outcome in (("course similarity", lambda: run_ours(folder, work / f"ours{size}")),
                                      ("Dolos", lambda: run_dolos(flat, starter_file, Path(args.dolos), work)),
                                      ("copydetect", lambda: run_copydetect(flat, starter_folder, work))):
                    try:
                        done = outcome()
                    except RuntimeError as error:
                        done = str(error)[-200:]
                    timing[tool] = ({"skipped": done} if isinstance(done, str)
                                    else {key: done[2][key] for key in ("seconds", "cpu_seconds", "peak_mb")})
                    print(f"{size} submissions, {tool}: {timing[tool]}", file=sys.stderr, flush=True)
                results["scale"][str(size)] = timing
    print(render(results))
    write_results(RESULTS / "similarity.json", results)
    return 0


def render(results: dict) -> str:
    tools = [tool for tool, data in results["tools"].items() if "skipped" not in data]
    corpus_ = results["corpus"]
    lines = [f"labelled corpus: {corpus_['submissions']} submissions ({corpus_['independent']} independent, "
             f"one copy of each at {len(corpus_['levels'])} disguise levels, {corpus_['partials']} partial copies)",
             ""]
    header = f"{'pairs':<13}{'n':>5}" + "".join(f"  {tool + ' flagged':>26}{'AUC':>7}" for tool in tools)
    lines.append(header)
    kinds = ["identical", *LEVELS, "partial", "copy-copy", "independent"]
    first = results["tools"][tools[0]]["rows"] if tools else {}
    for kind in kinds:
        if kind not in first:
            continue
        cells = f"{kind:<13}{first[kind]['pairs']:>5}"
        for tool in tools:
            row = results["tools"][tool]["rows"].get(kind)
            flagged = f"{row['flagged']}/{row['pairs']} ({row['rate']:.0%})"
            area = "" if row["auc"] is None else f"{row['auc']:.3f}"
            cells += f"  {flagged:>26}{area:>7}"
        lines.append(cells)
    lines.append(f"{'all copies':<13}{'':>5}" + "".join(
        f"  {'threshold ' + format(results['tools'][tool]['threshold'], 'g'):>26}"
        f"{results['tools'][tool]['auc']:>7.3f}" for tool in tools))
    for tool, data in results["tools"].items():
        if "skipped" in data:
            lines.append(f"{tool}: skipped: {data['skipped']}")
    if results["scale"]:
        lines += ["", f"{'submissions':<13}" + "".join(f"{tool:>34}" for tool in ("course similarity", "Dolos",
                                                                                   "copydetect"))]
        for size, timing in results["scale"].items():
            cells = f"{size:<13}"
            for tool in ("course similarity", "Dolos", "copydetect"):
                data = timing.get(tool, {})
                text = (f"{data['seconds']:.0f} s ({data['cpu_seconds']:.0f} s CPU), {data['peak_mb']:.0f} MB"
                        if "seconds" in data else "failed: " + data.get("skipped", "")[:24])
                cells += f"{text:>34}"
            lines.append(cells)
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
