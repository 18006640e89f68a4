"""The names of the engines, defined once. This module imports nothing heavy, so the
command line can list them in its help without loading the libraries behind them. (The
metric names are the keys of ``tailor.metrics.registry.METRICS``.)"""

from typing import Literal, get_args

BackendName = Literal["hf", "openai", "vllm", "llamacpp"]
BACKENDS: tuple[str, ...] = get_args(BackendName)
