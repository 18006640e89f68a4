"""The one list of trainers, and the only place a run's kind is stated. Every trainer has
the same shape (a config object in, ``Trainer(config).run(run_dir, resume) -> LoopResult``
out); the CLI makes one ``tailor train <kind>`` command per entry, a run is stamped with
the kind of the entry its config selects (``kind_of``), the run browser names runs by it,
and a run made before ``inference.json`` is described through its kind's config class.
Entries name their trainer's module, imported on first use, so reading the table costs
nothing."""

import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tailor.errors import TailorError

if TYPE_CHECKING:
    from tailor.train.loop import LoopTrainer
    from tailor.train.stages import LoopConfig


@dataclass(frozen=True)
class TrainerEntry:
    """``label``: how reports and the run browser name a run of this kind; ``where``: the
    trainer class as ``module:Class``; ``recipe``: the sample recipe the command runs when
    given none (None: it needs one); ``summary``: the command's help; ``when``: the settings
    that select this entry among those of one trainer (REST-PG is ReST-EM's trainer with a
    reasoning warm-up). What a finished run keeps, its ``inference.json`` says
    (``config.inference``)."""

    kind: str
    label: str
    where: str
    recipe: str | None
    summary: str
    when: dict = field(default_factory=dict)

    @property
    def trainer(self) -> type:
        module, name = self.where.split(":")
        return getattr(importlib.import_module(module), name)

    def selects(self, config: "LoopConfig") -> bool:
        """Whether a run of ``config`` may be of this kind: its trainer's config, with ``when``'s settings."""
        return isinstance(config, self.trainer.config_class) and all(getattr(config, key) == value for key, value in self.when.items())


TRAINERS: dict[str, TrainerEntry] = {
    entry.kind: entry
    for entry in (
        TrainerEntry("planner", "PlanPers planner", "tailor.train.planner:PlannerTrainer", "configs/planner-sample-cpu.yaml",
                     "Train the PlanPers planner: predict the rubric aspect titles from question + profile (SFT + LoRA, validated by held-out loss)."),
        TrainerEntry("vac", "VAC", "tailor.train.vac:VACTrainer", "configs/vac-sample-cpu.yaml",
                     "Train a policy with natural-language feedback (VAC) and the recipe's variants (e.g. a frozen feedback model)."),
        TrainerEntry("rest-em", "ReST-EM", "tailor.train.rest_em:RestEMTrainer", "configs/rest-em-sample-cpu.yaml",
                     "Train a policy on its own best-scored samples (Offline RL RAG-Personalization, ReST-EM)."),
        TrainerEntry("rest-pg", "REST-PG", "tailor.train.rest_em:RestEMTrainer", "configs/restpg-sample-cpu.yaml",
                     "REST-PG: SFT on reasoning data, then ReST-EM with the reward (and the recipe's variants, e.g. ReST-EM without reasoning).",
                     when={"warmup": "reasoning"}),
        TrainerEntry("rpo", "RPO", "tailor.train.rpo:RPOTrainer", "configs/rpo-sample-cpu.yaml",
                     "RPO: a reflection model learns to rewrite a black-box model's generic answer for the user (teacher trajectories, SFT, then GRPO with the 2-to-6-shot curriculum)."),
        TrainerEntry("popi", "POPI-style (rejection sampling + DPO)", "tailor.train.popi:POPITrainer", "configs/popi-sample-cpu.yaml",
                     "POPI-style (rejection sampling + DPO): a preference-inference model writes short user summaries (best-of-N by the gain they bring), and the generator learns by DPO to answer from them."),
    )
}


def kind_of(config: "LoopConfig") -> str:
    """The kind a run of ``config`` is stamped with: the entry that selects it whose trainer's
    config class is the nearest to ``config``'s, and of those the one with the most ``when``
    settings (ReST-EM's recipe with a reasoning warm-up is REST-PG)."""
    matching = [entry for entry in TRAINERS.values() if entry.selects(config)]
    if not matching:
        raise TailorError(f"no trainer of tailor.train.trainers.TRAINERS trains a {type(config).__name__}")
    nearest = type(config).__mro__.index
    return min(matching, key=lambda entry: (nearest(entry.trainer.config_class), -len(entry.when))).kind


def trainer_of(kind: str | None) -> type["LoopTrainer"]:
    """The training loop that made a run of ``kind``, whose declarations its report and the
    run browser render; ``LoopTrainer`` itself (what every run shows, no more) for a kind no
    entry names."""
    from tailor.train.loop import LoopTrainer

    return TRAINERS[kind].trainer if kind in TRAINERS else LoopTrainer


def label_of(kind: str | None) -> str:
    """How a run of ``kind`` is named (an eval run: "evaluation")."""
    if kind == "eval":
        return "evaluation"
    return TRAINERS[kind].label if kind in TRAINERS else "training"
