"""The names of the engines and metrics, defined once. This module imports nothing heavy,
so the command line can list them in its help without loading the libraries behind them."""

from typing import Literal, get_args

BackendName = Literal["hf", "openai", "vllm", "llamacpp"]
BACKENDS: tuple[str, ...] = get_args(BackendName)

MetricName = Literal["aspect", "direct", "proxy", "rouge-l", "rouge-1", "similarity", "accuracy", "rating", "planted"]
METRICS: tuple[str, ...] = get_args(MetricName)
