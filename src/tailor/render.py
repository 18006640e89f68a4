"""What every report draws with: number formats, Markdown tables and matplotlib figures
(made without pyplot, so no global backend is touched)."""

import io


def number(value: float | None, digits: int = 4) -> str:
    """A score as reports print it; "–" where there is none."""
    return "–" if value is None else f"{value:.{digits}f}"


def markdown_table(header: list[str], rows: list[list[str]], text_columns: int = 1) -> list[str]:
    """The lines of a table whose first ``text_columns`` columns are left-aligned text and
    the rest right-aligned numbers."""
    rule = ["---"] * text_columns + ["---:"] * (len(header) - text_columns)
    return ["| " + " | ".join(line) + " |" for line in [header, rule, *rows]]


def figure(rows: int, columns: int, width: float, height: float):
    """A figure of ``rows`` × ``columns`` panels, each ``width`` × ``height`` inches, and its axes (2-D)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    drawn = Figure(figsize=(width * columns, height * rows), layout="constrained")
    FigureCanvasAgg(drawn)
    return drawn, drawn.subplots(rows, columns, squeeze=False)


def png(drawn, dpi: int = 120) -> bytes:
    buffer = io.BytesIO()
    drawn.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()
