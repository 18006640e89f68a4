"""The one list of trainers. Every trainer has the same shape (a config object in,
``Trainer(config).run(run_dir, resume) -> LoopResult`` out); the CLI makes one
``tailor train <kind>`` command per entry, the run browser names runs by it, and a run
made before ``inference.json`` is described through its kind's config class. Entries name
their trainer's module, imported on first use, so reading the table costs nothing."""

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tailor.train.loop import LoopTrainer


@dataclass(frozen=True)
class TrainerEntry:
    """``label``: how reports and the run browser name a run of this kind; ``where``: the
    trainer class as ``module:Class``; ``recipe``: the sample recipe the command's help
    points at (None: the trainer takes flags, not a recipe); ``summary``: the command's help.
    What a finished run keeps, its ``inference.json`` says (``config.inference``)."""

    kind: str
    label: str
    where: str
    recipe: str | None
    summary: str

    @property
    def trainer(self) -> type:
        module, name = self.where.split(":")
        return getattr(importlib.import_module(module), name)


TRAINERS: dict[str, TrainerEntry] = {
    entry.kind: entry
    for entry in (
        TrainerEntry("planner", "PlanPers planner", "tailor.train.planner:PlannerTrainer", None,
                     "Train the PlanPers planner: predict the rubric aspect titles from question + profile."),
        TrainerEntry("vac", "VAC", "tailor.train.vac:VACTrainer", "configs/vac-sample-cpu.yaml",
                     "Train a policy with natural-language feedback (VAC) and the recipe's variants (e.g. a frozen feedback model)."),
        TrainerEntry("rest-em", "ReST-EM", "tailor.train.rest_em:RestEMTrainer", "configs/rest-em-sample-cpu.yaml",
                     "Train a policy on its own best-scored samples (Offline RL RAG-Personalization, ReST-EM)."),
        TrainerEntry("rest-pg", "REST-PG", "tailor.train.rest_em:RestEMTrainer", "configs/restpg-sample-cpu.yaml",
                     "REST-PG: SFT on reasoning data, then ReST-EM with the reward (and the recipe's variants, e.g. ReST-EM without reasoning)."),
        TrainerEntry("rpo", "RPO", "tailor.train.rpo:RPOTrainer", "configs/rpo-sample-cpu.yaml",
                     "RPO: a reflection model learns to rewrite a black-box model's generic answer for the user (teacher trajectories, SFT, then GRPO with the 2-to-6-shot curriculum)."),
        TrainerEntry("popi", "POPI-style (rejection sampling + DPO)", "tailor.train.popi:POPITrainer", "configs/popi-sample-cpu.yaml",
                     "POPI-style (rejection sampling + DPO): a preference-inference model writes short user summaries (best-of-N by the gain they bring), and the generator learns by DPO to answer from them."),
    )
}


def trainer_of(kind: str | None) -> type["LoopTrainer"]:
    """The training loop that made a run of ``kind``, whose declarations its report and the
    run browser render; ``LoopTrainer`` itself (what every run shows, no more) for a kind
    no entry names, or whose trainer is no loop (the planner's run has no iterations)."""
    from tailor.train.loop import LoopTrainer

    trainer = TRAINERS[kind].trainer if kind in TRAINERS else LoopTrainer
    return trainer if issubclass(trainer, LoopTrainer) else LoopTrainer


def label_of(kind: str | None) -> str:
    """How a run of ``kind`` is named (an eval run: "evaluation")."""
    if kind == "eval":
        return "evaluation"
    return TRAINERS[kind].label if kind in TRAINERS else "training"
