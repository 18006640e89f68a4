"""Models, retrievers and metrics built once per setting and shared: by a training loop
and its variants, by the units of an eval run, by a command. The ranking cache is opened
once, beside the response cache of the pool's primary model."""

import gc
import sys
from pathlib import Path

from tailor.errors import TailorError
from tailor.io import json_digest
from tailor.llm import LLM, LLMConfig, make_llm
from tailor.metrics import Metric, make_metric, metric_info
from tailor.paths import default_cache_path
from tailor.retrieval import RankingCache, Retriever, make_retriever


class ModelPool:
    """``primary``: the model whose cache settings the ranking cache follows (the policy,
    or the generator): cached rankings live in its cache file, and none are kept when it
    is uncached."""

    def __init__(self, primary: LLMConfig | None = None):
        primary = primary or LLMConfig()
        self._ranking_path = Path(primary.cache_path or default_cache_path()) if primary.cache else None
        self._ranking_cache: RankingCache | None = None
        self._llms: dict[str, LLM] = {}
        self._retrievers: dict[str, Retriever] = {}
        self._metrics: dict[str, Metric] = {}

    def llm(self, config: LLMConfig) -> LLM:
        key = config.model_dump_json()
        if key not in self._llms:
            self._llms[key] = make_llm(config)
        return self._llms[key]

    def built(self, config: LLMConfig | None) -> LLM | None:
        """The model for ``config`` if the pool has built (or been given) it."""
        return None if config is None else self._llms.get(config.model_dump_json())

    def provide(self, config: LLMConfig, llm: LLM) -> None:
        """Use ``llm`` wherever ``config`` is asked for (a model built elsewhere, or a fake)."""
        self._llms[config.model_dump_json()] = llm

    def retriever(self, name: str, options: dict | None = None) -> Retriever:
        key = json_digest([name, options or {}])
        if key not in self._retrievers:
            if self._ranking_cache is None and self._ranking_path is not None:
                self._ranking_cache = RankingCache(self._ranking_path)
            self._retrievers[key] = make_retriever(name, self._ranking_cache, **(options or {}))
        return self._retrievers[key]

    def metric(self, name: str, judge: LLMConfig | LLM | None = None, options: dict | None = None) -> Metric:
        """The metric ``name``; its judge, when it needs one, is ``judge`` (a model, or
        built from a config)."""
        if name in self._metrics:  # supplied by provide_metric
            return self._metrics[name]
        try:
            needed = judge if metric_info(name).judge else None
        except ValueError as err:
            raise TailorError(str(err)) from err
        identity = needed.model_dump_json() if isinstance(needed, LLMConfig) else id(needed)
        key = json_digest([name, identity, options or {}])
        if key not in self._metrics:
            judge_llm = self.llm(needed) if isinstance(needed, LLMConfig) else needed
            try:
                self._metrics[key] = make_metric(name, judge_llm, **(options or {}))
            except ValueError as err:
                raise TailorError(str(err)) from err
        return self._metrics[key]

    def provide_metric(self, metric: Metric, name: str | None = None) -> None:
        """Score with ``metric`` wherever ``name`` (default: its own) is asked for."""
        self._metrics[name or metric.name] = metric

    def release(self, keep: list[LLMConfig | None] = ()) -> None:
        """Let go of every model but those in ``keep`` (and of retrievers), freeing the
        accelerator before a large judge is loaded."""
        kept = {c.model_dump_json() for c in keep if c is not None}
        self._llms = {k: llm for k, llm in self._llms.items() if k in kept}
        self._retrievers = {}
        gc.collect()
        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_available():
            torch.cuda.empty_cache()
