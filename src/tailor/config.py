"""Reading a YAML recipe into a pydantic config, with errors that name the file and the
key's path: an unknown key at any depth is refused with the nearest known one suggested."""

import difflib
import types
import typing
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from tailor.errors import TailorError

C = TypeVar("C", bound=BaseModel)


def load_yaml_config(model: type[C], path: str | Path, what: str) -> C:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise TailorError(f"{path}: cannot read the config: {err}") from err
    try:
        return model.model_validate(raw or {})
    except ValidationError as err:
        problems = "; ".join(describe_error(model, e) for e in err.errors())
        raise TailorError(f"{path}: invalid {what}: {problems}") from err


def describe_error(model: type[BaseModel], error: dict) -> str:
    """One validation error as ``path.to.key: what is wrong``."""
    where = ".".join(map(str, error["loc"])) or "<root>"
    if error["type"] == "value_error" and not error["loc"]:  # a check across fields, which names its own keys
        return str(error.get("ctx", {}).get("error", error["msg"]))
    if error["type"] != "extra_forbidden":
        return f"{where}: {error['msg']}"
    key = str(error["loc"][-1])
    near = difflib.get_close_matches(key, known_keys(model, error["loc"][:-1]), n=1)
    return f"{where}: unknown key" + (f" (did you mean {near[0]}?)" if near else "")


def known_keys(model: type[BaseModel], loc: tuple) -> list[str]:
    """The keys of the model found by following ``loc`` down nested models, lists and dicts."""
    current = model
    for part in loc:
        if not isinstance(part, str) or part not in current.model_fields:
            continue  # a list index: the list's model goes on
        nested = _models_in(current.model_fields[part].annotation)
        if not nested:
            return []
        current = nested[0]
    return list(current.model_fields)


def _is_model(value: object) -> bool:
    return isinstance(value, type) and issubclass(value, BaseModel)


def _models_in(annotation) -> list[type[BaseModel]]:
    """The pydantic models inside a field's annotation (``X | None``, ``list[X]``, …)."""
    if _is_model(annotation):
        return [annotation]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType, list, dict, tuple):
        return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]
    return []
