"""Reading a YAML recipe into a pydantic config, with errors that name the file and field."""

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
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}" for e in err.errors())
        raise TailorError(f"{path}: invalid {what}: {problems}") from err
