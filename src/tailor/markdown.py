"""Markdown tables for the reports."""


def markdown_table(header: list[str], rows: list[list[str]], text_columns: int = 1) -> list[str]:
    """The lines of a table whose first ``text_columns`` columns are left-aligned text and
    the rest right-aligned numbers."""
    rule = ["---"] * text_columns + ["---:"] * (len(header) - text_columns)
    return ["| " + " | ".join(line) + " |" for line in [header, rule, *rows]]
