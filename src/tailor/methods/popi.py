"""POPI at inference: a preference-inference model turns each user's profile into a short
natural-language summary, stored once per user and profile; a generator (any backend,
frozen or trained) answers conditioned on that summary instead of the raw history.

Summaries are keyed by the summarizer (model and adapter content), the profile and the
length limit, never by the generator: one summary serves every generator."""

import hashlib
import json
from pathlib import Path

from tailor.data.schema import Example
from tailor.kvstore import KeyValueStore
from tailor.llm.base import LLM, adapter_fingerprint
from tailor.llm.types import SamplingParams
from tailor.methods.base import Answer, Method, context_size
from tailor.methods.rag import AnswerConfig
from tailor.prompts.formats import reply_format
from tailor.prompts.popi import parse_summary, summary_request
from tailor.prompts.retry import generate_parsed


class SummaryStore(KeyValueStore):
    """Preference summaries, beside the response cache by default."""

    def __init__(self, path: str | Path):
        super().__init__(path, "summaries", "summary")


class PreferenceInference:
    """The summarizer: one greedy summary per user and profile, from the store when known."""

    def __init__(self, llm: LLM, store: SummaryStore | None = None, adapter: str | None = None, max_words: int = 60,
                 max_tokens: int = 128, max_attempts: int = 3, seed: int = 0):
        self.llm, self.store, self.adapter = llm, store, adapter
        self.max_words, self.max_tokens, self.max_attempts, self.seed = max_words, max_tokens, max_attempts, seed

    def key(self, example: Example) -> str:
        payload = [self.llm.kind, self.llm.model, adapter_fingerprint(self.adapter), self.max_words, [(p.id, p.text) for p in example.profile]]
        return hashlib.sha256(json.dumps(payload).encode()).hexdigest()

    def summaries(self, examples: list[Example]) -> list[str]:
        keys = [self.key(e) for e in examples]
        known = {k: self.store.get(k) for k in set(keys)} if self.store else {}
        missing = list(dict.fromkeys(k for k in keys if known.get(k) is None))  # each user once, in order
        if missing:
            first: dict[str, Example] = {}
            for k, e in zip(keys, examples):
                first.setdefault(k, e)
            params = SamplingParams(temperature=0.0, max_tokens=self.max_tokens, seed=self.seed)
            batch = generate_parsed(
                self.llm, [summary_request(first[k].profile, self.max_words) for k in missing], params,
                lambda raw: parse_summary(raw, self.max_words), self.max_attempts, adapter=self.adapter, description="preference summaries",
            )
            for k, parsed in zip(missing, batch.items):
                # an unreadable summary is used as written (cut to length) but not stored
                known[k] = parsed.value if parsed.ok else " ".join(parsed.raw.split()[: self.max_words])
                if self.store and parsed.ok:
                    self.store.put(k, known[k])
        return [known[k] for k in keys]


class PreferencePersonalization(Method):
    """The generator answers from the user's preference summary; ``adapter`` is its own
    (POPI's DPO-trained generator), or None for any frozen model."""

    name = "popi"

    def __init__(self, llm: LLM, inference: PreferenceInference, config: AnswerConfig = AnswerConfig(), adapter: str | None = None):
        self.llm, self.inference, self.config, self.adapter = llm, inference, config, adapter

    def answer_batch(self, examples: list[Example]) -> list[Answer]:
        summaries = self.inference.summaries(examples)
        fmt = reply_format(self.config.format)
        requests = [fmt.request(e.question, None, preferences=s) for e, s in zip(examples, summaries)]
        params = SamplingParams(temperature=self.config.temperature, max_tokens=self.config.max_tokens, seed=self.config.seed)
        batch = generate_parsed(self.llm, requests, params, fmt.parse, self.config.max_attempts, adapter=self.adapter, description="popi answers")
        answers = []
        for example, summary, parsed in zip(examples, summaries, batch.items):
            reply = parsed.value if parsed.ok else parsed.raw
            trace = {"method": self.name, "summary": summary, "attempts": parsed.attempts, "parsed": parsed.ok, "raw": parsed.raw,
                     **fmt.trace(reply), **context_size(self.llm, [summary], example)}
            answers.append(Answer(fmt.answer(reply), trace))
        return answers
