"""Plain data across the sandbox boundary: JSON for structure, safetensors for tensors.

Nothing that crosses the boundary can execute code when it is read: there is no pickle anywhere.
A value is encoded as a JSON document in which every tensor is replaced by ``{"__tensor__": key}``
and the tensors themselves are stored in a safetensors file next to it.

The writer runs inside the sandbox (on untrusted values); the reader runs in the grading process and
validates everything it loads: JSON types only, tensors of an allowed dtype, sizes within limits.
This module must stay importable without the rest of ``autograder``: it is copied into the sandbox.
"""

from __future__ import annotations

import json
import math
import os
import stat
import sys
from pathlib import Path
from typing import Any

TENSOR_KEY = "__tensor__"
UNSUPPORTED_KEY = "__unsupported__"
ALLOWED_DTYPES = ("float16", "bfloat16", "float32", "float64", "int8", "int16", "int32", "int64",
                  "uint8", "bool")
MAX_DEPTH = 32


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


def _read_file(path: Path, max_bytes: int) -> bytes:
    """The bytes of ``path``, which must be a regular file of at most ``max_bytes``: the sandbox could
    have left a symbolic link to a file only the grader may read, or a FIFO that blocks forever, there."""
    try:
        handle = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as error:
        raise TransportError(f"cannot open {path.name} ({os.strerror(error.errno or 0)})") from None
    info = os.fstat(handle)
    if not stat.S_ISREG(info.st_mode) or info.st_size > max_bytes:
        os.close(handle)
        if not stat.S_ISREG(info.st_mode):
            raise TransportError(f"{path.name} is not a regular file")
        raise TransportError(f"result of {info.st_size} bytes exceeds the limit of {max_bytes} bytes")
    with os.fdopen(handle, "rb") as stream:
        return stream.read(max_bytes + 1)


def read(stem: Path, max_bytes: int = 256 * 1024 * 1024) -> Any:
    """Read and validate what :func:`write` produced. Raises :class:`TransportError` when malformed."""
    json_path = stem.with_suffix(".json")
    tensor_path = stem.with_suffix(".safetensors")
    json_bytes = _read_file(json_path, max_bytes)
    tensor_bytes = _read_file(tensor_path, max_bytes - len(json_bytes)) if os.path.lexists(tensor_path) else None
    total = len(json_bytes) + len(tensor_bytes or b"")
    if total > max_bytes:
        raise TransportError(f"result of {total} bytes exceeds the limit of {max_bytes} bytes")
    try:
        structure = json.loads(json_bytes.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise TransportError(f"malformed JSON: {error}") from None
    tensors: dict[str, Any] = {}
    if tensor_bytes is not None:
        from safetensors import SafetensorError
        from safetensors.torch import load

        try:
            tensors = load(tensor_bytes)
        except (SafetensorError, ValueError, RuntimeError) as error:
            raise TransportError(f"malformed tensor file: {error}") from None
        for key, tensor in tensors.items():
            dtype = str(tensor.dtype).removeprefix("torch.")
            if dtype not in ALLOWED_DTYPES:
                raise TransportError(f"tensor {key!r} has unsupported dtype {dtype}")
    return decode(structure, tensors)
