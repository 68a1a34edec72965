"""Position tables: a constant table whose first T rows are added to a sequence N×T×D.

PyTorch exports ``x + self.table[: x.shape[1]]`` (NetBuilder's PositionalEncoding, GPT's learned positions) as a
Slice of the stored table that ends at the sequence length. With a fixed length the Slice folds to a constant of T
rows, and the full table is remembered beside it so the layer comes back with its own max length; with a variable
length the end is the length itself, which no constant can hold, so the value is a `SequencePrefix` that only the
positional-encoding rule reads (every other rule sees an unknown value and refuses).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from netbuilder.specs.interop import BATCH_MARK, SEQ_MARK


@dataclass(frozen=True)
class SequencePrefix:
    """The first T rows of ``table``, T being the variable sequence length."""

    table: np.ndarray


def fold_table_prefix(importer: Any, node: Any) -> bool:
    """Fold a Slice that takes the first rows of a constant table (axis 0, from 0, step 1); True when done.

    The full table is recorded in ``importer.table_prefixes`` under the Slice's output, so the positional-encoding
    rule can rebuild the layer with every row the model stored."""
    table = importer.values.get(node.input[0]) if len(node.input) >= 3 else None
    if not isinstance(table, np.ndarray):
        return False
    args = [importer.values.get(name) if name else None for name in node.input[1:5]]
    if table.ndim != 2 or any(a is not None and not isinstance(a, np.ndarray) for a in args):
        return False
    starts, ends = args[0], args[1]
    axes = args[2] if len(args) > 2 and args[2] is not None else np.zeros(1, np.int64)
    steps = args[3] if len(args) > 3 and args[3] is not None else np.ones(1, np.int64)
    if starts is None or ends is None or starts.size != 1 or ends.size != 1 or axes.size != 1 or steps.size != 1:
        return False
    if int(starts.reshape(-1)[0]) != 0 or int(axes.reshape(-1)[0]) != 0 or int(steps.reshape(-1)[0]) != 1:
        return False
    end = int(ends.reshape(-1)[0])
    if end == SEQ_MARK:
        importer.values[node.output[0]] = SequencePrefix(table)
    elif end == BATCH_MARK or end <= 0:
        return False
    else:
        importer.values[node.output[0]] = table[:end]
    importer.table_prefixes[node.output[0]] = table
    return True


def position_table(importer: Any, name: str) -> tuple[np.ndarray, int | None] | None:
    """(the full table, the rows actually used or None for "the sequence length") behind value ``name``, or None
    when it is not the start of a constant table."""
    value = importer.values.get(name)
    if isinstance(value, SequencePrefix):
        return value.table, None
    table = importer.table_prefixes.get(name)
    if table is not None and isinstance(value, np.ndarray):
        return table, int(value.shape[0])
    return None
