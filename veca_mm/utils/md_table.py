# Copyright (c) veca_mm contributors. Apache-2.0.
"""The Markdown tables the analysis tools print (``learning_spread.py``,
``lora_comparison.py``)."""


def markdown_table(header, rows):
    """A Markdown table: one line of ``header`` (column names), the
    separator, then a line per row (a sequence of cells, each ``str``-ed),
    every cell between ``| `` and `` |``."""
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    lines += ['| ' + ' | '.join(str(c) for c in row) + ' |' for row in rows]
    return '\n'.join(lines)
