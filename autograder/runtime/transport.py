"""Plain data across the sandbox boundary: JSON for structure, safetensors for tensors.

Nothing that crosses the boundary can execute code when it is read: there is no pickle anywhere.
A value is encoded as a JSON document in which every tensor is replaced by ``{"__tensor__": key}``
and the tensors themselves are stored in a safetensors file next to it.

The writer runs inside the sandbox (on untrusted values); the reader runs in the grading process and
validates everything it loads: JSON types only, tensors of an allowed dtype, sizes within limits.
This module must stay importable without the rest of ``autograder``: it is copied into the sandbox.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import re
import stat
import sys
from pathlib import Path
from typing import Any

TENSOR_KEY = "__tensor__"
UNSUPPORTED_KEY = "__unsupported__"
ALLOWED_DTYPES = ("float16", "bfloat16", "float32", "float64", "int8", "int16", "int32", "int64",
                  "uint8", "bool")
MAX_DEPTH = 32
MAX_RESULT_BYTES = 128 * 1024 * 1024  # one result file, JSON and tensors
MAX_JSON_BYTES = 16 * 1024 * 1024
MAX_ITEMS = 1_000_000                 # JSON items the grader parses from one worker (one part)


class TransportError(ValueError):
    """Raised by the reader when data from the sandbox is malformed or too large."""


def _torch():
    import torch  # imported lazily: parts without tensors never pay for torch

    return torch


def _is_tensor(value: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.Tensor)


def encode(value: Any) -> tuple[Any, dict[str, Any]]:
    """Turn ``value`` into (JSON-able structure, {key: plain tensor}).

    Lists and tuples become lists, dict keys become strings, numbers become plain ``int``/``float``/
    ``bool`` and tensors become detached, contiguous CPU tensors of the base ``torch.Tensor`` type.
    Anything else is recorded as ``{"__unsupported__": "<type name>"}`` so the judge can say what the
    student returned instead.
    """
    tensors: dict[str, Any] = {}

    def walk(item: Any, depth: int) -> Any:
        if depth > MAX_DEPTH:
            return {UNSUPPORTED_KEY: "structure nested too deeply"}
        if item is None or type(item) in (bool, int, str):
            return item
        if type(item) is float:
            return item
        # Subclasses of numbers (numpy.float64 is one) become their plain value; the base class's own
        # conversion is used so that an overridden __float__ or __eq__ cannot change what is recorded.
        if isinstance(item, bool):
            return bool(int.__int__(item))
        if isinstance(item, int):
            return int.__int__(item)
        if isinstance(item, float):
            return float.__float__(item)
        if _is_tensor(item):
            torch = _torch()
            if type(item) is not torch.Tensor and type(item) is not torch.nn.Parameter:
                return {UNSUPPORTED_KEY: f"tensor subclass {type(item).__name__}"}
            plain = torch.Tensor.as_subclass(item, torch.Tensor).detach().to("cpu").contiguous().clone()
            key = f"t{len(tensors)}"
            tensors[key] = plain
            return {TENSOR_KEY: key}
        if type(item) in (list, tuple):
            return [walk(x, depth + 1) for x in item]
        if type(item) is dict:
            return {str(k): walk(v, depth + 1) for k, v in item.items()}
        return {UNSUPPORTED_KEY: type(item).__name__}

    return walk(value, 0), tensors


def decode(structure: Any, tensors: dict[str, Any]) -> Any:
    """Inverse of :func:`encode`: replace tensor references by the tensors themselves."""

    def walk(item: Any, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise TransportError("structure nested too deeply")
        if item is None or type(item) in (bool, int, float, str):
            return item
        if type(item) is list:
            return [walk(x, depth + 1) for x in item]
        if type(item) is dict:
            if set(item) == {TENSOR_KEY}:
                key = item[TENSOR_KEY]
                if key not in tensors:
                    raise TransportError(f"reference to a missing tensor {key!r}")
                return tensors[key]
            return {str(k): walk(v, depth + 1) for k, v in item.items()}
        raise TransportError(f"unexpected JSON value of type {type(item).__name__}")

    return walk(structure, 0)


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


def write(stem: Path, value: Any) -> None:
    """Write ``value`` as ``stem.json`` (+ ``stem.safetensors`` when it holds tensors).

    The JSON file is written last, so a reader that sees it also sees the tensors.
    """
    structure, tensors = encode(value)
    if tensors:
        from safetensors.torch import save

        _atomic_write(stem.with_suffix(".safetensors"), save(tensors))
    text = json.dumps(structure, allow_nan=True)
    _atomic_write(stem.with_suffix(".json"), text.encode("utf-8"))


def _reject_constant(name: str) -> float:
    return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}[name]


class UnsafeFile(TransportError):
    """A file the grader refuses to read: a link, a device, a FIFO, a socket, a file with several hard
    links, or one larger than its limit. The message is one line saying which and why."""


def read_regular(name: str | Path, max_bytes: int, dir_fd: int | None = None) -> bytes:
    """The bytes of the regular file ``name`` (relative to ``dir_fd`` when given), at most ``max_bytes``.

    The one way the grader reads a file that a student or a worker could have placed: opened with
    ``O_NOFOLLOW | O_NONBLOCK`` (a link is refused, a FIFO cannot block), accepted only as a regular file
    with a single hard link (several names for one file would let a few bytes on disk be read many
    times), and read with a bounded read, so that a file that grows, or lies about its size (``/proc``,
    a device reached some other way), is never read past the limit.
    """
    shown = os.fsdecode(name).rsplit("/", 1)[-1].encode("utf-8", "backslashreplace").decode()
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0)
    try:
        handle = os.open(name, flags, dir_fd=dir_fd)
    except OSError as error:
        why = "a symbolic link" if error.errno == 40 else os.strerror(error.errno or 0)
        raise UnsafeFile(f"cannot open {shown} ({why})") from None
    try:
        info = os.fstat(handle)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeFile(f"{shown} is not a regular file")
        if info.st_nlink > 1:
            raise UnsafeFile(f"{shown} has {info.st_nlink} hard links; only files with one name are read")
        if info.st_size > max_bytes:
            raise UnsafeFile(f"{shown} holds {info.st_size} bytes, which exceeds the limit of {max_bytes} bytes")
        chunks, left = [], max_bytes + 1
        while left > 0 and (chunk := os.read(handle, min(left, 1 << 20))):
            chunks.append(chunk)
            left -= len(chunk)
        if left <= 0:
            raise UnsafeFile(f"{shown} holds more bytes than it said, which exceeds the limit of {max_bytes} bytes")
        return b"".join(chunks)
    finally:
        os.close(handle)


def _read_file(path: Path, max_bytes: int) -> bytes:
    return read_regular(path, max_bytes)


class Budget:
    """What the grader still reads from one worker, across all its result files (one part): ``bytes``
    on disk and JSON ``items`` (values, keys and containers), so that many files, or hard links to one
    file, cannot add up to more than one part may send."""

    def __init__(self, max_bytes: int, max_items: int = MAX_ITEMS) -> None:
        self.max_bytes, self.max_items = max_bytes, max_items
        self.bytes, self.items = max_bytes, max_items

    def spend(self, size: int, items: int) -> None:
        self.bytes -= size
        self.items -= items
        if self.bytes < 0 or self.items < 0:
            raise TransportError(f"the results of this part passed the grader's limit of "
                                 f"{self.max_bytes // 2**20} MB and {self.max_items} JSON items")


# Linear-time scanning, whatever the bytes: first every escape pair goes (a fixed two bytes each), then
# every string is a quote, non-quotes and a quote, a pattern with one way to match. An alternation inside
# a repeat (``"(?:[^"\\]|\\.)*"``) backtracked over each unterminated string from every quote in it:
# 64 KB of ``\"`` took 46 s, 2 MB hours.
_ESCAPE = re.compile(rb"\\.", re.DOTALL)
_STRING = re.compile(rb'"[^"]*"')
_BRACKETS = re.compile(rb"[\[\]{}]")
_DEPTH_STEP = [0] * 256
_DEPTH_STEP[ord("[")] = _DEPTH_STEP[ord("{")] = 1
_DEPTH_STEP[ord("]")] = _DEPTH_STEP[ord("}")] = -1
MAX_INT_DIGITS = 100      # digits of one JSON integer (int64 has 19; Python's own limit, 4,300, may be lifted)


def scan_json(data: bytes, max_items: int, max_depth: int = MAX_DEPTH) -> int:
    """An upper bound on the number of items in the JSON ``data``, checked against ``max_items`` and its
    nesting against ``max_depth`` before anything is parsed: a few bytes of ``[],`` each become a Python
    list of 56 bytes, so the size of a file alone does not bound the memory its parse takes. Linear in
    ``len(data)`` whatever it holds. Exact for valid JSON (a backslash outside a string is invalid, and the
    parse refuses it at the first one, before any nesting the scan did not see)."""
    items = 1 + sum(data.count(token) for token in (b",", b":", b"[", b"{"))
    if items > max_items:
        raise TransportError(f"result of {items} JSON items exceeds the limit of {max_items}")
    brackets = b"".join(_BRACKETS.findall(_STRING.sub(b'""', _ESCAPE.sub(b"", data))))
    opened = brackets.count(b"[") + brackets.count(b"{")
    if 2 * opened != len(brackets):   # bounds the walk below by the items counted above
        raise TransportError("malformed JSON: its brackets do not balance")
    deepest = max(itertools.accumulate(map(_DEPTH_STEP.__getitem__, brackets)), default=0)
    if deepest > max_depth:
        raise TransportError(f"result nested {deepest} levels deep, over the limit of {max_depth}")
    return items


def _bounded_int(text: str) -> int:
    digits = len(text) - text.startswith("-")
    if digits > MAX_INT_DIGITS:
        raise TransportError(f"an integer of {digits} digits, over the limit of {MAX_INT_DIGITS}")
    return int(text)


def _parse(data: bytes) -> Any:
    """The JSON ``data`` (scanned already: :func:`scan_json`); integers bounded, NaN and infinities
    allowed. Anything wrong is a :class:`TransportError`, never another exception."""
    try:
        return json.loads(data.decode("utf-8"), parse_constant=_reject_constant, parse_int=_bounded_int)
    except TransportError:
        raise
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise TransportError(f"malformed JSON: {error}") from None
    except Exception as error:  # noqa: BLE001 - whatever the bytes make the parser raise
        raise TransportError(f"malformed JSON ({type(error).__name__})") from None


# safetensors' names of ALLOWED_DTYPES: a file naming any other (one the installed library cannot map to
# torch raised a KeyError out of ``load``) is refused before it is loaded
SAFETENSORS_DTYPES = {"F16": "float16", "BF16": "bfloat16", "F32": "float32", "F64": "float64", "I8": "int8",
                      "I16": "int16", "I32": "int32", "I64": "int64", "U8": "uint8", "BOOL": "bool"}


def _check_tensor_header(data: bytes, max_items: int) -> int:
    """Validate the header of the safetensors file ``data`` (an 8-byte length, then JSON naming each
    tensor's dtype, shape and offsets) before the library reads it; returns its JSON items."""
    size = int.from_bytes(data[:8], "little") if len(data) >= 8 else -1
    if not 0 <= size <= len(data) - 8:
        raise TransportError("malformed tensor file: its header is longer than the file")
    header = data[8:8 + size]
    try:
        items = scan_json(header, max_items)
        parsed = _parse(header)
    except TransportError as error:
        raise TransportError(f"malformed tensor file: {error}") from None
    if not isinstance(parsed, dict):
        raise TransportError("malformed tensor file: its header is not a mapping")
    for key, info in parsed.items():
        if key == "__metadata__":
            continue
        dtype = info.get("dtype") if isinstance(info, dict) else None
        if dtype not in SAFETENSORS_DTYPES:
            shown = dtype if isinstance(dtype, str) else type(dtype).__name__
            raise TransportError(f"tensor {key[:40]!r} has unsupported dtype {shown[:40]!r}")
    return items


def read(stem: Path, max_bytes: int = MAX_RESULT_BYTES, budget: Budget | None = None) -> Any:
    """Read and validate what :func:`write` produced. Raises :class:`TransportError` when malformed or
    over a limit: ``max_bytes`` for this result, and what is left of ``budget`` (the part's); an
    ``OSError`` when the file cannot be opened at all; never anything else, whatever the files hold."""
    try:
        return _read(stem, max_bytes, budget)
    except (TransportError, OSError):
        raise
    except Exception as error:  # noqa: BLE001 - a reader's bug on hostile bytes must not end the grade
        raise TransportError(f"the result could not be read ({type(error).__name__})") from None


def _read(stem: Path, max_bytes: int, budget: Budget | None) -> Any:
    json_path = stem.with_suffix(".json")
    tensor_path = stem.with_suffix(".safetensors")
    if budget is not None:
        max_bytes = min(max_bytes, max(0, budget.bytes))
    json_bytes = _read_file(json_path, min(max_bytes, MAX_JSON_BYTES))
    tensor_bytes = _read_file(tensor_path, max_bytes - len(json_bytes)) if os.path.lexists(tensor_path) else None
    total = len(json_bytes) + len(tensor_bytes or b"")
    if total > max_bytes:
        raise TransportError(f"result of {total} bytes exceeds the limit of {max_bytes} bytes")
    max_items = budget.items if budget is not None else MAX_ITEMS
    items = scan_json(json_bytes, max_items)
    if tensor_bytes is not None:
        items += _check_tensor_header(tensor_bytes, max_items - items)
    if budget is not None:
        budget.spend(total, items)
    structure = _parse(json_bytes)
    tensors: dict[str, Any] = {}
    if tensor_bytes is not None:
        from safetensors import SafetensorError
        from safetensors.torch import load

        try:
            tensors = load(tensor_bytes)
        except (SafetensorError, ValueError, RuntimeError, KeyError, TypeError) as error:
            raise TransportError(f"malformed tensor file: {str(error)[:200]}") from None
        for key, tensor in tensors.items():
            dtype = str(tensor.dtype).removeprefix("torch.")
            if dtype not in ALLOWED_DTYPES:
                raise TransportError(f"tensor {key[:40]!r} has unsupported dtype {dtype}")
    return decode(structure, tensors)
