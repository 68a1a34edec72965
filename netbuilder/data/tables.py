"""CSV tables: numeric feature columns and one target column.

Parsing uses the csv module (no pandas). The loader finds the delimiter and whether the first row is a header,
turns a text target into classes (``class_names`` keeps the labels), and refuses anything it would otherwise have
to guess at: text in a feature column, empty or unparseable cells. Errors name the row as a spreadsheet numbers it
(the header is row 1) and the column by its name, so the user can go straight to the cell.
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from netbuilder.data.base import ArrayDataset, DataError, DataInfo
from netbuilder.data.files import read_text, stem

MISSING = {"", "na", "n/a", "nan", "null", "none", "?"}
MAX_REPORTED = 5
CLASS_LIMIT = 20  # auto: a whole-number target with at most this many values is a class label


@dataclass
class _Column:
    name: str
    cells: list[str]
    rows: list[int]  # spreadsheet row of each cell

    def parse(self) -> tuple[np.ndarray, list[tuple[int, str]], list[tuple[int, str]]]:
        """(values, missing cells, unparseable cells) — NaN stands in for cells that are not numbers."""
        values = np.full(len(self.cells), np.nan)
        missing: list[tuple[int, str]] = []
        bad: list[tuple[int, str]] = []
        for i, (cell, row) in enumerate(zip(self.cells, self.rows, strict=True)):
            text = cell.strip()
            if text.lower() in MISSING:
                missing.append((row, text))
                continue
            try:
                number = float(text)
            except ValueError:
                bad.append((row, text))
                continue
            if not math.isfinite(number):
                bad.append((row, text))
                continue
            values[i] = number
        return values, missing, bad


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _detect_delimiter(text: str, path: Path) -> str:
    if path.name.lower().removesuffix(".gz").endswith(".tsv"):
        return "\t"
    sample = "\n".join(text.splitlines()[:20])
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def _detect_header(rows: list[list[str]]) -> bool:
    """A header row is text where the rows below hold numbers, or distinct text when every column is text."""
    if len(rows) < 2:
        return False
    first, second = rows[0], rows[1]
    if all(not cell.strip() or _is_number(cell) for cell in first):
        return False
    for head, below in zip(first, second, strict=False):
        if head.strip() and not _is_number(head) and _is_number(below):
            return True
    # Every column is text in both rows: a header if its names never reappear in their columns below.
    body = rows[1:]
    return all(all(r[i] != name for r in body if i < len(r)) for i, name in enumerate(first))


def _pick(ref: str | int, names: list[str], what: str, file: str) -> int:
    if isinstance(ref, bool):
        raise DataError(f"{what} must be a column name or number, not {ref!r}.")
    if isinstance(ref, int):
        if -len(names) <= ref < len(names):
            return ref % len(names)
        raise DataError(f"{what} column {ref} does not exist: {file} has {len(names)} columns "
                        f"(0 to {len(names) - 1}, or negative from the end).")
    if isinstance(ref, str):
        if ref in names:
            return names.index(ref)
        folded = [n.strip().lower() for n in names]
        if ref.strip().lower() in folded:
            return folded.index(ref.strip().lower())
        if ref.strip().lstrip("-").isdigit():
            return _pick(int(ref), names, what, file)
        raise DataError(f"{file} has no column {ref!r}. Columns: {_list(names)}.")
    raise DataError(f"{what} must be a column name or number, not {ref!r}.")


def _list(names: list[str], limit: int = 12) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _problems_error(file: str, problems: list[tuple[int, str, str]]) -> DataError:
    problems = sorted(problems)
    parts = []
    for row, column, value in problems[:MAX_REPORTED]:
        parts.append(f"row {row}, column {column!r} " + (f"has {value!r}" if value else "is empty"))
    more = len(problems) - MAX_REPORTED
    listed = "; ".join(parts) + (f"; and {more} more" if more > 0 else "")
    count = len(problems)
    advice = "Fill in or remove those rows."
    if any(_DECIMAL_COMMA.match(value) for _, _, value in problems):
        advice = "Numbers must use a decimal point, not a comma (save the file with ',' between columns)."
    return DataError(f"{file}: {count} value{'s are' if count > 1 else ' is'} missing or not a number: {listed}. "
                     f"{advice}")


_DECIMAL_COMMA = re.compile(r"^[-+]?\d+,\d+$")


def _format_label(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def load_csv(path: str | Path, target: str | int | None, features: list[str | int] | None = None,
             task: str = "auto", *, header: bool | None = None, delimiter: str | None = None,
             encoding: str = "utf-8", scale_target: bool = True) -> ArrayDataset:
    """A CSV table as a data set.

    ``target`` is the column to predict (name or number; None for unsupervised data), ``features`` the input
    columns (default: all others). ``task`` "auto" makes a text target, or a whole-number one with few values,
    a classification; otherwise regression. A regression target is standardised for training when
    ``scale_target`` is true (with training-split statistics, in ``prepare``); predictions and metrics come back
    in its own units.
    """
    if task not in ("auto", "classification", "regression"):
        raise DataError(f"Task for a CSV file must be auto, classification or regression, not {task!r}.")
    p = Path(path)
    file = p.name
    text = read_text(p, encoding)
    delimiter = delimiter or _detect_delimiter(text, p)
    try:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)  # quoted cells may span lines
        rows: list[list[str]] = []
        lines: list[int] = []
        for row in reader:
            if any(cell.strip() for cell in row):
                rows.append(row)
                lines.append(reader.line_num)
    except csv.Error as error:
        raise DataError(f"{file} is not a readable CSV file (row {reader.line_num}: {error}).") from None
    if not rows:
        raise DataError(f"{file} is empty.")
    has_header = _detect_header(rows) if header is None else header
    width = len(rows[0])
    if has_header:
        names = [cell.strip() or f"column {i + 1}" for i, cell in enumerate(rows[0])]
        rows, lines = rows[1:], lines[1:]
    else:
        names = [f"column {i + 1}" for i in range(width)]
    if not rows:
        raise DataError(f"{file} has a header but no data rows.")
    for row, line in zip(rows, lines, strict=True):
        if len(row) != width:
            raise DataError(f"Row {line} of {file} has {len(row)} values, but the "
                            f"{'header' if has_header else 'first row'} has {width}. Check for a missing or extra "
                            f"delimiter {delimiter!r} on that row.")

    target_index = None if target is None else _pick(target, names, "Target", file)
    if features is None:
        feature_index = [i for i in range(width) if i != target_index]
    else:
        if not isinstance(features, list | tuple) or not features:
            raise DataError("features must be a non-empty list of column names or numbers.")
        feature_index = [_pick(f, names, "Feature", file) for f in features]
        if target_index is not None and target_index in feature_index:
            raise DataError(f"Column {names[target_index]!r} is the target, so it cannot also be a feature.")
    if not feature_index:
        raise DataError(f"{file} has no column left to use as a feature besides the target.")

    columns = [_Column(names[i], [r[i] for r in rows], lines) for i in range(width)]
    x_values, problems, text_columns = [], [], []
    for i in feature_index:
        values, missing, bad = columns[i].parse()
        comma_numbers = sum(1 for _, v in bad if _DECIMAL_COMMA.match(v))
        if len(bad) > (len(rows) - len(missing)) / 2 and comma_numbers < len(bad) / 2:
            example = bad[0]
            text_columns.append(f"{names[i]!r} (e.g. {example[1]!r} in row {example[0]})")
            continue
        problems += [(r, names[i], v) for r, v in missing] + [(r, names[i], v) for r, v in bad]
        x_values.append(values)
    if text_columns:
        raise DataError(f"{file}: feature columns must hold numbers, but {', '.join(text_columns)} hold"
                        f"{'s' if len(text_columns) == 1 else ''} text. Leave "
                        f"{'it' if len(text_columns) == 1 else 'them'} out with features=[...], or encode the "
                        "categories as numbers.")

    y = None
    num_classes = class_names = None
    target_shape: tuple[int, ...] = ()
    chosen_task = "unsupervised"
    if target_index is not None:
        column = columns[target_index]
        values, missing, bad = column.parse()
        problems += [(r, column.name, v) for r, v in missing]
        text_target = len(bad) > (len(rows) - len(missing)) / 2
        present = values[~np.isnan(values)]
        few_wholes = (len(present) > 0 and bool(np.all(present == np.round(present)))
                      and len(np.unique(present)) <= min(CLASS_LIMIT, max(2, len(present) // 2)))
        if task == "regression" and text_target:
            raise DataError(f"Target column {column.name!r} holds text (e.g. {bad[0][1]!r} in row {bad[0][0]}), "
                            "which can only be a class label; use task classification.")
        chosen_task = "classification" if task == "classification" or (task == "auto" and (
            text_target or few_wholes)) else "regression"
        if chosen_task == "regression":
            problems += [(r, column.name, v) for r, v in bad]
        if problems:
            raise _problems_error(file, problems)
        if chosen_task == "classification":
            if text_target or bad:
                labels = [cell.strip() for cell in column.cells]
                class_names = sorted(set(labels))
            else:
                uniques = sorted(set(present.tolist()))
                class_names = [_format_label(v) for v in uniques]
                labels = [_format_label(v) for v in values.tolist()]
            lookup = {name: i for i, name in enumerate(class_names)}
            y = torch.tensor([lookup[label] for label in labels], dtype=torch.int64)
            num_classes = len(class_names)
            if num_classes < 2:
                raise DataError(f"Target column {column.name!r} has only one value ({class_names[0]!r}); a "
                                "classifier needs at least two classes.")
            if num_classes > max(CLASS_LIMIT, len(rows) // 2) and len(rows) > 20:
                raise DataError(f"Target column {column.name!r} has {num_classes} different values in {len(rows)} "
                                "rows, too many to be classes. Choose the column that holds the class, or use "
                                "task regression if it is a measurement.")
        else:
            measured = values.astype(np.float64)
            y = torch.tensor(measured, dtype=torch.float32).reshape(-1, 1)
            target_shape = (1,)
    elif problems:
        raise _problems_error(file, problems)

    x = torch.tensor(np.stack(x_values, axis=1), dtype=torch.float32)
    feature_names = [names[i] for i in feature_index]
    target_name = names[target_index] if target_index is not None else None
    what = {"classification": f"target {target_name!r} with {num_classes} classes",
            "regression": f"target {target_name!r}" + (" (standardised for training)" if scale_target else ""),
            "unsupervised": "no target"}[chosen_task]
    info = DataInfo(id=stem(p), title=file, task=chosen_task, sample_shape=(len(feature_index),),
                    num_classes=num_classes, class_names=class_names, target_shape=target_shape,
                    description=f"{len(rows):,} rows, {len(feature_index)} numeric features, {what}.",
                    source=str(path), kind="table", feature_names=feature_names, samples=len(rows))
    return ArrayDataset(info, x, y, scale_target=scale_target)
