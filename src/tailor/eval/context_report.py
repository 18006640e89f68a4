"""How much personalization context each method puts in its prompts, beside its quality:
the retrieved history RAG carries, or the short preference summary POPI carries instead,
against the user's whole profile. Read from the traces (``context_*`` and ``profile_*``,
see ``tailor.methods.base.context_size``)."""

from dataclasses import dataclass

from tailor.eval.results import EvalResult, MethodResult
from tailor.render import figure, markdown_table, number, png

QUALITY = "Quality (macro)"


@dataclass
class ContextRow:
    method: str
    quality: float | None  # the method's macro average in its table
    context: float | None  # mean context per prompt, in the table's unit
    profile: float | None  # mean size of the asker's whole profile, in the table's unit
    vs_reference: float | None  # the reference method's context over this one's (×)
    vs_profile: float | None  # the whole profile over this method's context (×)


@dataclass
class ContextTable:
    dataset: str
    split: str
    unit: str  # "tokens" (the generator's), or "words" when some tokenizer was not at hand
    reference: str | None  # the row the reduction is measured against
    rows: list[ContextRow]


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    return numerator / denominator if numerator and denominator else None


def build_context_tables(result: EvalResult, quality: dict[tuple[str, str, str], float | None], reference: str = "rag") -> list[ContextTable]:
    """A table for every (dataset, split) where some method carried context;
    ``quality[(dataset, split, method)]`` is the method's macro average there, and the
    reduction is measured against the first row running method ``reference``."""
    groups: dict[tuple[str, str], list[MethodResult]] = {}
    for run in result.runs:
        groups.setdefault((run.dataset, run.split), []).append(run)
    built = []
    for (dataset, split), runs in groups.items():
        if not any(run.context_words for run in runs):
            continue
        use_tokens = all(run.context_tokens is not None and run.profile_tokens is not None for run in runs if run.context_words is not None)
        unit = "tokens" if use_tokens else "words"
        context = {run.method: getattr(run, f"context_{unit}") for run in runs}
        anchor = next((run.method for run in runs if run.method_name == reference and context[run.method]), None)
        rows = []
        for run in runs:
            profile = getattr(run, f"profile_{unit}")
            rows.append(ContextRow(run.method, quality.get((dataset, split, run.method)), context[run.method], profile,
                                   _ratio(context.get(anchor), context[run.method]), _ratio(profile, context[run.method])))
        built.append(ContextTable(dataset, split, unit, anchor, rows))
    return built


def _times(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}×"


def render_context_markdown(tables: list[ContextTable]) -> list[str]:
    lines = []
    for table in tables:
        lines += [f"## Context length / {table.dataset} / {table.split}", ""]
        against = f"{table.reference}'s context ÷ the method's" if table.reference else "no RAG row to compare with"
        lines += [f"Mean personalization context per prompt and the asker's whole profile, in the generator's {table.unit}; "
                  f"reduction: {against}, and the whole profile ÷ the method's context.", ""]
        header = ["Method", QUALITY, f"Context ({table.unit})", f"Whole profile ({table.unit})", f"vs {table.reference or 'RAG'}", "vs whole profile"]
        rows = [[r.method, number(r.quality), number(r.context, 1), number(r.profile, 1), _times(r.vs_reference), _times(r.vs_profile)] for r in table.rows]
        lines += markdown_table(header, rows) + [""]
    return lines


def render_context_chart(tables: list[ContextTable]) -> bytes:
    """Quality against context length, a point per method and a dashed line at the whole
    profile's size, one panel per (dataset, split)."""
    columns = min(4, len(tables))
    drawn, grid = figure(-(-len(tables) // columns), columns, 5, 4)
    axes = grid.flatten()
    for ax, table in zip(axes, tables):
        for row in table.rows:
            if row.context is None or row.quality is None:
                continue
            ax.scatter([row.context], [row.quality], s=50)
            ax.annotate(row.method, (row.context, row.quality), textcoords="offset points", xytext=(5, 3), fontsize="small")
        profiles = [row.profile for row in table.rows if row.profile]
        if profiles:
            ax.axvline(max(profiles), linestyle="--", color="grey")
            ax.text(max(profiles), 0.03, "whole profile ", transform=ax.get_xaxis_transform(), rotation=90, fontsize="small", color="grey", ha="right", va="bottom")
        ax.set_xlabel(f"context per prompt ({table.unit})")
        ax.set_ylabel(QUALITY)
        ax.set_title(f"{table.dataset} / {table.split}")
        ax.grid(alpha=0.3)
    for ax in axes[len(tables):]:
        ax.set_visible(False)
    return png(drawn, dpi=110)
