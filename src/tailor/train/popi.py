"""POPI-style training (``tailor train popi``; rejection sampling + DPO, as reports name
it): a preference-inference model (the summarizer) and a generator that answers from its
summaries, optimised together.

The paper's single objective splits into two terms: how informative a summary is, and how
well the generator turns a summary into the preferred answer. Our documented version
optimises each with what the paper describes (the summary: a reward, by best-of-N
selection; the generator: preference optimisation), each iteration t:

(a) phi_{t-1} samples N summaries per training user (temperature 1, one seed each);
(b) pi_{t-1} answers every input from each summary, and from no summary at all; a
summary's reward is the mean metric gain it brings its user's inputs over no summary;
(c) each user's best-rewarded summary is phi_t's SFT target (summary informativeness);
(d) pi_{t-1} samples M answers per input from that summary; the metric ranks them, and
the best against the worst (ties skipped) is a DPO pair; pi_t is trained by DPO
(TRL ``DPOTrainer``) from pi_{t-1} (generator approximation);
then the pair (phi_t, pi_t) is validated end to end. The narrative and references reach
only the metric.
"""

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import ClassVar
from statistics import mean

from pydantic import Field

from tailor.data.schema import Example
from tailor.llm import LLMConfig
from tailor.llm.types import ChatRequest, SamplingParams
from tailor.methods.inference import InferenceSpec
from tailor.methods.popi import POPIOptions, PreferenceInference
from tailor.prompts.popi import parse_summary
from tailor.prompts.retry import ParsedBatch, generate_parsed
from tailor.runs import ANSWERS, CHOSEN_SUMMARIES, GENERATOR_DPO, GENERATOR_MODEL, SUMMARIES, SUMMARIZER_MODEL, SUMMARIZER_SFT
from tailor.train.dpo import DPOSettings, train_dpo
from tailor.train.sft import train_sft
from tailor.train.loop import LoopInputs, LoopTrainer
from tailor.train.stages import LoopConfig, Run, Trainer, check_inputs
from tailor.train.rows import dpo_row, sft_row, unparsed_scored, write_jsonl


class POPIConfig(LoopConfig):
    """``policy`` is the generator, ``summarizer`` the preference-inference model (default:
    the generator's model). N = ``n_summaries``, M = ``answers_per_input``."""

    unread: ClassVar[dict[str, str]] = dict.fromkeys(
        ("k", "retriever", "retriever_options"), "POPI answers from the preference summary, never from retrieved profile items"
    )
    kept_roles: ClassVar[tuple[str, ...]] = ("policy", "summarizer")

    what = "POPI config"

    summarizer: LLMConfig | None = Field(default=None, description="the preference-inference model (default: the policy's model)")
    n_summaries: int = Field(default=4, ge=1, description="N: summaries sampled per user")
    summary_temperature: float = Field(default=1.0, ge=0.0, description="sampling temperature of the summaries")
    summary_words: int = Field(default=POPIOptions().summary_words, ge=1, description="the longest summary, in words")
    summary_max_tokens: int = Field(default=POPIOptions().summary_max_tokens, ge=1, description="the longest summary, in tokens")
    answers_per_input: int = Field(default=4, ge=2, description="M: answers sampled per input from a summary (best against worst trains by DPO)")
    answer_sample_temperature: float = Field(default=1.0, ge=0.0, description="sampling temperature of the M answers")
    dpo_beta: float = Field(default=0.1, gt=0.0, description="DPO's beta")
    run_dir: Path = Field(default=Path("runs/popi"), description="the run folder (a rerun there resumes)")

    @property
    def summarizer_llm(self) -> LLMConfig:
        return self.summarizer or self.policy

    def adapter_models(self) -> list[LLMConfig]:
        return [self.policy, self.summarizer_llm]

    @property
    def options(self) -> POPIOptions:
        return POPIOptions(summary_words=self.summary_words, summary_max_tokens=self.summary_max_tokens)

    def inference(self, adapters: dict[str, str | None]) -> InferenceSpec:
        """The generator answering from the summarizer's summary of the user."""
        kept = {"policy": adapters.get("policy"), "summarizer": adapters.get("summarizer")}
        return self.described("popi", kept, helpers={"summarizer": self.summarizer_llm}, options=self.options.model_dump())


@dataclass
class POPIResult:
    validation: list[float]  # index t: (phi_t, pi_t); 0 = both untrained
    best_iteration: int
    best_adapter: str | None  # the kept generator, pi_best (None: the untrained one)
    best_summarizer: str | None  # phi_best
    summarizers: list[str | None]  # phi_0 .. phi_T
    generators: list[str | None]  # pi_0 .. pi_T


def user_key(example: Example) -> str:
    return example.user_id or example.id


def ranked_pair(rows: list[dict]) -> tuple[dict, dict] | None:
    """(best, worst) of one input's scored answers, or None when they all score the same."""
    scored = [row for row in rows if row["score"] is not None]
    if len(scored) < 2:
        return None
    best = max(scored, key=lambda row: row["score"])
    worst = min(scored, key=lambda row: row["score"])
    return None if best["score"] == worst["score"] else (best, worst)


class _POPIRun(Run):
    config: POPIConfig
    summarizers: list[str | None]  # phi_t's adapter, index t (None: the base model)

    def adapters_at(self, t: int, adapter: str | None) -> dict[str, str | None]:
        """pi_t answering from phi_t's summary of the user."""
        return {"policy": adapter, "summarizer": self.summarizers[t]}

    def summary_request(self, user: Example) -> ChatRequest:
        """The summarizer's request for a user, as at inference: as many of their items as fit its context."""
        return PreferenceInference(self.roles["summarizer"], options=self.config.options).request(user)

    def sample_summaries(self, users: list[Example], adapter: str | None, j: int) -> ParsedBatch[str]:
        c = self.config
        params = SamplingParams(temperature=c.summary_temperature, max_tokens=c.summary_max_tokens, seed=c.sample_seed(j))
        requests = [self.summary_request(u) for u in users]
        return generate_parsed(self.roles["summarizer"], requests, params, lambda raw: parse_summary(raw, c.summary_words), c.max_attempts,
                               adapter=adapter, description="popi summaries")

    def answer_with(self, examples: list[Example], summaries: list[str | None], adapter: str | None, temperature: float, seed: int) -> ParsedBatch[str]:
        c = self.config
        fmt = c.reply
        requests = [fmt.request(e.question, None, preferences=s) for e, s in zip(examples, summaries)]
        params = SamplingParams(temperature=temperature, max_tokens=c.answer_max_tokens, seed=seed)
        return generate_parsed(
            self.policy_llm, requests, params, fmt.parse, c.max_attempts, adapter=adapter, description="popi answers", generate=partial(fmt.generate, self.policy_llm),
        )

    def scores(self, examples: list[Example], replies: ParsedBatch[str]) -> list[float | None]:
        """Each reply's score; None for one that did not parse (never ranked, never a target)."""
        run = self.metric.score_batch(examples, [self.config.reply.answer(r) for r in replies.texts])
        return [unparsed_scored(s.value, ok) for s, ok in zip(run.scores, replies.parsed)]


def train_popi(config: POPIConfig, inputs: LoopInputs, trainer: Trainer = train_sft, dpo_trainer: Trainer = train_dpo) -> POPIResult:
    """Run ``config.iterations`` rounds of (a)-(d), validating (phi_0, pi_0) .. (phi_T, pi_T)."""
    train_examples, valid_examples = inputs.train, inputs.valid
    check_inputs("POPI", train_examples, valid_examples)
    c = config
    run = _POPIRun.open(c, inputs, trainer, {"summarizer": inputs.pool.llm(c.summarizer_llm)})
    users = list({user_key(e): e for e in train_examples}.values())
    of_user = {user_key(u): [e for e in train_examples if user_key(e) == user_key(u)] for u in users}
    summarizers: list[str | None] = [None]
    generators: list[str | None] = [None]
    run.summarizers = summarizers
    validation = [run.validate(0, valid_examples, None)]
    for t in range(1, c.iterations + 1):
        out = run.folder.iteration(t)
        summarizer, generator = summarizers[-1], generators[-1]

        # (a)-(b) N summaries per user, each rewarded by its gain over answering without one.
        def sample_and_reward() -> list[dict]:
            plain = run.scores(train_examples, run.answer_with(train_examples, [None] * len(train_examples), generator, c.answer_temperature, c.seed))
            baseline = {e.id: s for e, s in zip(train_examples, plain)}
            rows = []
            for j in range(c.n_summaries):
                sampled = run.sample_summaries(users, summarizer, j)
                summaries = dict(zip((user_key(u) for u in users), sampled.texts))
                ok = dict(zip((user_key(u) for u in users), sampled.parsed))
                given = [summaries[user_key(e)] for e in train_examples]
                scored = dict(zip((e.id for e in train_examples), run.scores(train_examples, run.answer_with(train_examples, given, generator, c.answer_temperature, c.seed))))
                for key, inputs in of_user.items():
                    gains = [scored[e.id] - baseline[e.id] for e in inputs if scored[e.id] is not None and baseline[e.id] is not None]
                    score = mean(gains) if gains else None
                    rows.append({"user": key, "j": j, "summary": summaries[key], "parsed": ok[key], "score": unparsed_scored(score, ok[key])})
            return rows

        sampled = run.stage(f"iter_{t}/summaries", out.of(SUMMARIES), sample_and_reward)

        # (c) each user's best-rewarded summary trains phi_t.
        best = {}
        for row in sampled:
            if row["score"] is not None and (row["user"] not in best or row["score"] > best[row["user"]]["score"]):
                best[row["user"]] = row
        write_jsonl(out.of(CHOSEN_SUMMARIES), list(best.values()))
        summary_rows = [sft_row(run.summary_request(u), best[user_key(u)]["summary"]) for u in users if user_key(u) in best]
        write_jsonl(out.of(SUMMARIZER_SFT), summary_rows)
        summarizer = run.train(f"iter_{t}/train_summarizer", c.summarizer_llm.model, summary_rows, out.of(SUMMARIZER_MODEL), summarizer) if summary_rows else summarizer

        # (d) M sampled answers per input from that summary, ranked; best vs worst trains pi_t by DPO.
        def sample_answers() -> list[dict]:
            given = [best[user_key(e)]["summary"] if user_key(e) in best else None for e in train_examples]
            rows = []
            for j in range(c.answers_per_input):
                replies = run.answer_with(train_examples, given, generator, c.answer_sample_temperature, c.sample_seed(j))
                rows += [
                    {"id": e.id, "j": j, "summary": s, "reply": r, "parsed": ok, "score": v}
                    for e, s, r, ok, v in zip(train_examples, given, replies.texts, replies.parsed, run.scores(train_examples, replies))
                ]
            return rows

        answers = run.stage(f"iter_{t}/answers", out.of(ANSWERS), sample_answers)
        pairs = []
        for e in train_examples:
            ranked = ranked_pair([row for row in answers if row["id"] == e.id])
            if ranked:
                chosen, rejected = ranked
                request = c.reply.request(e.question, None, preferences=chosen["summary"])
                pairs.append(dpo_row(request, c.reply.target(chosen["reply"]), c.reply.target(rejected["reply"])))
        write_jsonl(out.of(GENERATOR_DPO), pairs)
        if pairs:
            dpo = DPOSettings(**c.sft.model_dump(), beta=c.dpo_beta)
            generator = run.train(f"iter_{t}/train_generator", c.policy.model, pairs, out.of(GENERATOR_MODEL), generator, dpo_trainer, dpo)
        summarizers.append(summarizer)
        generators.append(generator)
        validation.append(run.validate(t, valid_examples, generator))

    best_t, _ = run.finish(validation, generators)
    run.history.kept["summarizer"] = summarizers[best_t]
    run.save_history()
    return POPIResult(validation, best_t, generators[best_t], summarizers[best_t], summarizers, generators)


class POPITrainer(LoopTrainer):
    """POPI-style (rejection sampling + DPO): a preference-inference model writes short user
    summaries (best-of-N by the gain they bring), and the generator learns by DPO to answer
    from them."""

    config_class = POPIConfig

    def train_one(self, config: POPIConfig, inputs: LoopInputs) -> POPIResult:
        return train_popi(config, inputs)
