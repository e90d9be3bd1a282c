"""A submission's code as a stream of normalised tokens, so that a copy looks the same under disguise.

Each token is a short string with the line it comes from. Python is read with the standard library, never
run: :mod:`ast` where the code parses (nearly always), :mod:`tokenize` where it does not (a student's file
with a syntax error is still compared, not dropped as JPlag drops it). What survives normalisation is the
*shape* of the code, which is what a disguise keeps:

* comments, docstrings, blank lines and layout (line breaks, brackets, trailing commas) are gone;
* every identifier is one token (``V``): renaming a variable, a function or a class changes nothing
  (a builtin such as ``len`` or ``zip`` keeps its name, and so does an attribute of anything but ``self``
  and ``cls``, such as ``torch.linalg.svd`` or ``x.detach``: renaming one's own variables cannot reach them);
* a literal is its kind (``str``, ``int``, ``float``, ...), not its value;
* type annotations are dropped (adding or removing them is a one-keystroke disguise);
* ``for`` and ``while`` loops are both ``Loop`` followed by their body (the header, where the two
  differ, is left out): a ``for`` rewritten as a ``while`` leaves only its counter's two statements new.

What normalisation cannot undo (reordered functions and statements, dead code) is left to the
fingerprints: those are a *set*, so order does not matter, and inserted code breaks only the few k-grams
that span it (:mod:`.fingerprints`).

A notebook is a document too: its code cells, in order, each parsed on its own (IPython's ``%magic`` and
``!shell`` lines left out), its markdown ignored.
"""

from __future__ import annotations

import ast
import builtins
import io
import json
import keyword
import tokenize
from dataclasses import dataclass

MAX_SOURCE = 2 * 1024 * 1024      # characters of one document read at most (a huge file is cut, not fatal)
MAX_NODES = 200_000               # tokens of one document at most
_SKIP_FIELDS = {"annotation", "returns", "type_comment", "ctx", "type_params"}
_LOOPS = (ast.For, ast.AsyncFor, ast.While)
_SELF = ("self", "cls")
_BUILTINS = frozenset(name for name in dir(builtins) if not name.startswith("_"))   # len, range, zip, ...
_LITERAL_KINDS = {bool: "bool", int: "int", float: "float", complex: "complex", str: "str", bytes: "bytes",
                  type(None): "None", type(Ellipsis): "Ellipsis"}


@dataclass(frozen=True)
class Document:
    """One module or notebook of a submission: its normalised tokens and, for the report, its text."""

    name: str                     # "lora.py", "lecture.ipynb"
    tokens: tuple[str, ...]
    lines: tuple[int, ...]        # 1-based line of each token in ``text``
    text: str                     # what the report shows (a notebook: its code cells one after another)


def _docstring(node: ast.AST) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


def _walk(tree: ast.AST, offset: int, tokens: list[str], lines: list[int]) -> None:
    """Append ``tree``'s tokens in source order (iteratively: a deeply nested file cannot exhaust the stack)."""
    stack: list[ast.AST] = [tree]
    while stack and len(tokens) < MAX_NODES:
        node = stack.pop()
        line = getattr(node, "lineno", None)
        line = offset + line if line is not None else (lines[-1] if lines else offset + 1)
        if isinstance(node, (ast.expr_context, ast.Module)):
            pass
        elif _docstring(node):
            continue
        elif isinstance(node, _LOOPS):
            tokens.append("Loop")
            lines.append(line)
            children = [*node.body, *node.orelse]
            stack.extend(reversed(children))
            continue
        elif isinstance(node, ast.Constant):
            tokens.append(_LITERAL_KINDS.get(type(node.value), "const"))
            lines.append(line)
            continue
        elif isinstance(node, ast.AnnAssign):
            tokens.append("Assign")
            lines.append(line)
            stack.extend(reversed([child for child in (node.target, node.value) if child is not None]))
            continue
        elif isinstance(node, ast.JoinedStr):      # an f-string is a string whatever it formats
            tokens.append("str")
            lines.append(line)
            stack.extend(reversed([value.value for value in node.values if isinstance(value, ast.FormattedValue)]))
            continue
        elif isinstance(node, ast.Name) and node.id in _BUILTINS:   # renaming cannot touch these
            tokens.append(node.id)
            lines.append(line)
            continue
        elif isinstance(node, ast.Attribute) and not (isinstance(node.value, ast.Name) and node.value.id in _SELF):
            tokens.append("." + node.attr)   # torch.linalg.norm, tensor.detach: a library's names stay
            lines.append(line)
            stack.append(node.value)
            continue
        elif isinstance(node, (ast.Name, ast.arg, ast.alias)):
            tokens.append("V")
            lines.append(line)
            continue
        else:
            tokens.append(type(node).__name__)
            lines.append(line)
        children = []
        for field_name, value in ast.iter_fields(node):
            if field_name in _SKIP_FIELDS:
                continue
            if isinstance(value, ast.AST):
                children.append(value)
            elif isinstance(value, list):
                children.extend(item for item in value if isinstance(item, ast.AST))
        stack.extend(reversed(children))


def _lexical(source: str, offset: int, tokens: list[str], lines: list[int]) -> None:
    """Tokens of code that does not parse, from :mod:`tokenize`, normalised the same way as far as a lexer
    can: names ``V``, literals their kind, comments and layout gone; stops quietly at a lexical error."""
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if len(tokens) >= MAX_NODES:
                return
            kind, text = token.type, token.string
            if kind in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
                        tokenize.ENDMARKER, tokenize.ENCODING):
                continue
            if kind == tokenize.NAME:
                value = text if keyword.iskeyword(text) else "V"
            elif kind == tokenize.NUMBER:
                value = "float" if any(c in text for c in ".eE") and not text.startswith("0x") else "int"
            elif kind == tokenize.STRING:
                value = "str"
            else:
                value = text
            tokens.append(value)
            lines.append(offset + token.start[0])
    except (tokenize.TokenError, SyntaxError, ValueError):
        return


def _python(source: str, offset: int, tokens: list[str], lines: list[int]) -> None:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        _lexical(source, offset, tokens, lines)
        return
    try:
        _walk(tree, offset, tokens, lines)
    except RecursionError:   # pragma: no cover - the walk is iterative; ast.parse bounds nesting itself
        return


def python_document(name: str, source: str) -> Document:
    """The tokens of one Python module."""
    source = source[:MAX_SOURCE]
    tokens: list[str] = []
    lines: list[int] = []
    _python(source, 0, tokens, lines)
    return Document(name, tuple(tokens), tuple(lines), source)


def _cell_source(cell: object) -> str | None:
    if not isinstance(cell, dict) or cell.get("cell_type") != "code":
        return None
    source = cell.get("source", "")
    if isinstance(source, list):
        source = "".join(part for part in source if isinstance(part, str))
    return source if isinstance(source, str) else None


def notebook_cells(raw: str) -> list[str]:
    """The code cells of a notebook's JSON, in order; ``[]`` for anything that is not a notebook."""
    try:
        data = json.loads(raw[:MAX_SOURCE])
    except (ValueError, RecursionError):
        return []
    cells = data.get("cells") if isinstance(data, dict) else None
    if not isinstance(cells, list):
        return []
    return [source for source in map(_cell_source, cells) if source is not None]


def notebook_document(name: str, raw: str) -> Document:
    """The tokens of a notebook's code cells, shown as one text with a ``# In[n]`` line above each cell."""
    tokens: list[str] = []
    lines: list[int] = []
    shown: list[str] = []
    for number, source in enumerate(notebook_cells(raw), start=1):
        code = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())
        shown.append(f"# In[{number}]")
        _python(code, len(shown), tokens, lines)
        shown.extend(source.splitlines() or [""])
    return Document(name, tuple(tokens), tuple(lines), "\n".join(shown) + "\n")


def document(name: str, data: bytes) -> Document:
    """A module (``.py``) or a notebook (``.ipynb``) from its bytes (not UTF-8: decoded with replacement)."""
    text = data.decode("utf-8", "replace")
    return notebook_document(name, text) if name.endswith(".ipynb") else python_document(name, text)
