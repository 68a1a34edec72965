"""Checking settings against their declaration in `netbuilder.train.schema`.

`parse` checks one value of one setting; `read_training` / `read_data` read a whole section (defaults filled in);
`settings_problems` lists every problem of a document's settings for ``netbuilder validate``. Every message starts
with where the value is (``settings.training.optimizer: ...``, or the command-line flag it came from) and, for a
misspelt name, the closest known one. Strings are accepted for every type, so the command line and the app's text
fields go through the same checks as a file.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Iterator
from typing import Any

from netbuilder.train.schema import (
    _DEVICE,
    _NULL_WORDS,
    _TOPK,
    DATA_ALIASES,
    LOSS_FIELDS,
    METRICS,
    MOVED,
    ConfigError,
    Setting,
    default,
    get_path,
    section_settings,
)


def suggestion(word: str, candidates: Any) -> str:
    """`` — did you mean 'x'?`` for the closest candidate, or ""."""
    close = difflib.get_close_matches(str(word).lower(), [str(c) for c in candidates], n=1, cutoff=0.6)
    return f" — did you mean {close[0]!r}?" if close else ""


def _tidy(text: str) -> str:
    return text.replace("?.", "?").replace("? (", "? (")


def _fail(where: str, text: str) -> ConfigError:
    return ConfigError(f"{where}: {_tidy(text)}")


def parse(entry: Setting, value: Any, where: str | None = None) -> Any:
    """Check and convert one value of ``entry``; ConfigError naming ``where`` (default ``settings.<id>``)."""
    where = where or f"settings.{entry.id}"
    if entry.nullable and (value is None or (isinstance(value, str) and value.strip().lower() in _NULL_WORDS)):
        return None
    if value is None and entry.type in ("text", "names", "ints", "metrics", "losses", "mapping"):
        return json.loads(json.dumps(entry.default))  # absent: a fresh copy of the default
    kind = entry.type
    if kind == "choice":
        text = value.strip().lower() if isinstance(value, str) else value
        if text not in entry.choices:
            raise _fail(where, f"must be one of {', '.join(entry.choices)}; got {value!r}"
                               f"{suggestion(str(value), entry.choices) if isinstance(value, str) else ''}.")
        return text
    if kind == "int":
        return _integer(where, value, entry.low, entry.high)
    if kind == "float":
        return _number(where, value, entry.low, entry.high, entry.low_open)
    if kind == "bool":
        return _flag(where, value)
    if kind == "text":
        if not isinstance(value, str):
            raise _fail(where, f"must be text; got {value!r}.")
        return value
    if kind == "names":
        return _list(where, value, lambda v, _w: _name(where, v), "a list of names such as ['conv1', 'conv2']")
    if kind == "ints":
        ids = _list(where, value, lambda v, w: _integer(w, v, 0, 1_000_000), "a list of class ids such as [5, 6]")
        if len(set(ids)) != len(ids):
            raise _fail(where, f"lists a class twice ({ids}).")
        return ids
    if kind == "floats":
        numbers = _list(where, value, lambda v, w: _number(w, v, entry.low, entry.high, entry.low_open),
                        "a list of numbers")
        if entry.length and len(numbers) != entry.length:
            raise _fail(where, f"must be {entry.length} numbers such as {entry.default}; got {value!r}.")
        if not entry.length and not numbers:
            raise _fail(where, "must list at least one number.")
        return numbers
    if kind == "metrics":
        return [_metric(where, m) for m in _list(where, value, lambda v, _w: _name(where, v), "a list of metrics")]
    if kind == "device":
        device = str(value).strip().lower()
        if not _DEVICE.match(device):
            raise _fail(where, f"must be auto, cpu, cuda, cuda:N or mps; got {value!r}"
                               f"{suggestion(device, ('auto', 'cpu', 'cuda', 'mps'))}.")
        return device
    if kind == "mapping":
        if isinstance(value, str):
            try:
                value = json.loads(value) if value.strip() else {}
            except json.JSONDecodeError:
                raise _fail(where, f"must be a JSON object such as {{\"hflip\": true}}; got {value!r}.") from None
        if not isinstance(value, dict):
            raise _fail(where, f"must be a mapping of names to values; got {value!r}.")
        if entry.record:
            return parse_record(entry.record, value, where, json.dumps(entry.example()))
        return dict(value)
    if kind == "losses":
        return parse_losses(value, where)
    raise AssertionError(f"unknown setting type {kind!r}")


def _number(where: str, value: Any, low: float | None, high: float | None, low_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _fail(where, f"must be a number; got {value!r}.")
    try:
        number = float(value)
    except ValueError:
        raise _fail(where, f"must be a number; got {value!r}.") from None
    if math.isnan(number) or math.isinf(number):
        raise _fail(where, f"must be a finite number; got {value!r}.")
    if low is not None and (number <= low if low_open else number < low):
        raise _fail(where, f"must be {'greater than' if low_open else 'at least'} {low:g}; got {number:g}.")
    if high is not None and number > high:
        raise _fail(where, f"must be at most {high:g}; got {number:g}.")
    return number


def _integer(where: str, value: Any, low: float | None, high: float | None) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(where, f"must be a whole number; got {value!r}.")
    if low is not None and value < low:
        raise _fail(where, f"must be at least {low:g}; got {value}.")
    if high is not None and value > high:
        raise _fail(where, f"must be at most {high:g}; got {value}.")
    return value


def _flag(where: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "yes", "no", "on", "off", "1", "0"):
        return value.strip().lower() in ("true", "yes", "on", "1")
    raise _fail(where, f"must be true or false; got {value!r}.")


def _name(where: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _fail(where, f"must list names (text); got {value!r}.")
    return value.strip()


def _list(where: str, value: Any, item: Any, example: str) -> list[Any]:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError:
                raise _fail(where, f"must be {example}; got {text!r}.") from None
        else:
            value = [part.strip() for part in text.split(",") if part.strip()]
    if not isinstance(value, list | tuple):
        raise _fail(where, f"must be {example}; got {value!r}.")
    return [item(v, f"{where}[{i}]") for i, v in enumerate(value)]


def _metric(where: str, name: str) -> str:
    text = name.strip().lower()
    if text in METRICS or _TOPK.match(text):
        return text
    raise _fail(where, f"unknown metric {name!r}; use {', '.join(METRICS)} or topK (e.g. top5)"
                       f"{suggestion(text, METRICS)}.")


def topk_of(name: str) -> int | None:
    """The k of a "topK" metric name, else None."""
    match = _TOPK.match(name)
    return int(match.group(1)) if match else None


def parse_record(fields: tuple[Setting, ...], data: Any, where: str, example: str) -> dict[str, Any]:
    """One record (a loss, the pre-training stage): every field checked, unknown keys refused with a hint."""
    if not isinstance(data, dict):
        raise _fail(where, f"must be a mapping such as {example}; got {data!r}.")
    names = [f.key for f in fields]
    for key in data:
        if key not in names:
            raise _fail(f"{where}.{key}", f"unknown setting{suggestion(key, names)} (known: {', '.join(names)}).")
    out = {}
    for entry in fields:
        value = data.get(entry.key)
        if value is None and not entry.nullable:
            value = entry.default
        out[entry.key] = parse(entry, value, f"{where}.{entry.key}")
    return out


def parse_losses(value: Any, where: str = "settings.training.losses") -> list[dict[str, Any]]:
    """A list of loss records; ``{"y": "mse"}`` and ``{"y": {"loss": "mse"}}`` are read as one per output."""
    if value is None:
        return []
    if isinstance(value, str) and value.strip().startswith("["):  # JSON, as --set writes a whole list
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise _fail(where, f"must be a JSON list such as [{{\"output\": \"y\", \"loss\": \"mse\"}}]; got "
                               f"{value!r}.") from None
    if isinstance(value, str):  # the command line: "mse" or "y=mse,z=l1"
        value = [({"output": o.strip(), "loss": n.strip()} if n else {"output": "", "loss": o.strip()})
                 for o, _eq, n in (part.partition("=") for part in value.split(",") if part.strip())]
    if isinstance(value, dict):
        value = [dict(v, output=k) if isinstance(v, dict) else {"output": k, "loss": v} for k, v in value.items()]
    if not isinstance(value, list | tuple):
        raise _fail(where, "must be a list such as [{'output': 'y', 'loss': 'cross_entropy'}].")
    records = [parse_record(LOSS_FIELDS, item, f"{where}[{i}]", "{'output': 'y', 'loss': 'mse'}")
               for i, item in enumerate(value)]
    outputs = [r["output"] for r in records]
    if len(set(outputs)) != len(outputs):
        raise _fail(where, "lists the same output twice; give each Output node one loss.")
    return records


# ---------------------------------------------------------------------------------------------------------------
# Reading a whole section


def _subsections(section: str) -> dict[str, list[str]]:
    """Mappings inside a section (``early_stopping``, ``gan``, ...) -> their keys."""
    result: dict[str, list[str]] = {}
    for entry in section_settings(section):
        if len(entry.path) > 1:
            result.setdefault(entry.path[0], []).append(entry.path[1])
    return result


def unknown_training_keys(raw: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(location, message) for every key of settings.training that no entry declares."""
    top = {s.path[0] for s in section_settings("training")}
    subs = _subsections("training")
    for key in raw:
        if key == "data":
            continue
        if key not in top:
            hint = (f" — it belongs in {MOVED[key]}" if key in MOVED
                    else suggestion(key, sorted(top | {f"{k}.{n}" for k, v in subs.items() for n in v})))
            yield f"settings.training.{key}", f"unknown training setting{hint}."
        elif key in subs:
            inner = raw[key]
            if inner is None:
                continue
            if not isinstance(inner, dict):
                yield f"settings.training.{key}", f"must be a mapping of names to values; got {inner!r}."
                continue
            for name in inner:
                if name not in subs[key]:
                    yield (f"settings.training.{key}.{name}",
                           f"unknown setting in {key}{suggestion(name, subs[key])} (known: {', '.join(subs[key])}).")


def read_training(raw: dict[str, Any]) -> dict[str, Any]:
    """Every training entry's checked value by id (``"training.lr"``), defaults filled in. The first problem
    raises ConfigError naming its location."""
    for where, message in unknown_training_keys(raw):
        raise _fail(where, message)
    values = {}
    for entry in section_settings("training"):
        found, value = get_path(raw, entry.path)
        values[entry.id] = parse(entry, value) if found and (value is not None or entry.nullable) \
            else default(entry.id)
    return values


def read_data(raw: dict[str, Any]) -> dict[str, Any]:
    """Every data entry's checked value by id; keys no entry declares are the loader's options."""
    raw = dict(raw)
    sources = [key for key in ("source", *DATA_ALIASES) if raw.get(key)]
    if len(sources) > 1:
        raise ConfigError(f"settings.data: names its source twice ({', '.join(sources)}); keep one.")
    source = raw.pop(sources[0]) if sources else ""
    for key in ("source", *DATA_ALIASES):
        raw.pop(key, None)
    raw["source"] = source
    declared = {s.key for s in section_settings("data")}
    values = {}
    for entry in section_settings("data"):
        found, value = get_path(raw, entry.path)
        values[entry.id] = parse(entry, value) if found and (value is not None or entry.nullable) \
            else default(entry.id)
    options = values["data.options"]
    for key in raw:
        if key not in declared:
            options[key] = raw[key]
    if values["data.val_fraction"] + (values["data.test_fraction"] or 0.0) >= 1.0:
        raise ConfigError("settings.data: val_fraction plus test_fraction must leave samples to train on "
                          "(sum < 1).")
    return values


def data_option_problems(data: dict[str, Any], options: dict[str, Any]) -> list[tuple[str, str]]:
    """(location, message) for loader options the data's format does not take, with the closest known one."""
    from netbuilder.dataformats import loader_options  # the table, without importing torch

    source = data.get("source") or next((data.get(k) for k in DATA_ALIASES if data.get(k)), "")
    found = loader_options(str(source), str(data.get("format") or "") or None)
    if found is None:
        return []  # the format cannot be told without the file; loading it will say so
    fmt, known = found
    where = {key: ("settings.data.options." if key in (data.get("options") or {}) else "settings.data.") + key
             for key in options}
    return [(where[key], f"unknown option for {fmt} data{suggestion(key, known)} (options: "
                         f"{', '.join(known) or 'none'}).")
            for key in sorted(options) if key not in known]


def settings_problems(settings: dict[str, Any] | None) -> list[tuple[str, str]]:
    """Every problem of a document's training and data settings as (location, message): unknown or misspelt keys
    with a suggestion, and values that cannot be used. For ``netbuilder validate``."""
    settings = settings or {}
    problems: list[tuple[str, str]] = []
    training = settings.get("training")
    if training is not None and not isinstance(training, dict):
        return [("settings.training", "must be a mapping of setting names to values.")]
    training = dict(training or {})
    problems.extend((where, _tidy(text)) for where, text in unknown_training_keys(training))
    for entry in section_settings("training"):
        found, value = get_path(training, entry.path)
        if found and value is not None:
            try:
                parse(entry, value)
            except ConfigError as error:
                problems.append(_split(str(error)))
    data = settings.get("data")
    if isinstance(data, str):
        data = {"source": data}
    if data is not None and not isinstance(data, dict):
        return [*problems, ("settings.data", "must be a mapping such as {\"source\": \"digits\"}.")]
    data = dict(data or {})
    try:
        values = read_data(data)
    except ConfigError as error:
        problems.append(_split(str(error)))
    else:
        problems.extend((where, _tidy(text)) for where, text in data_option_problems(data, values["data.options"]))
    if not problems:
        from netbuilder.train.config import TrainConfig

        try:  # rules between settings (nesterov needs momentum, one transfer source, ...)
            TrainConfig.from_settings(settings)
        except ConfigError as error:
            problems.append(_split(str(error)))
    return problems


def _split(message: str) -> tuple[str, str]:
    where, sep, text = message.partition(": ")
    return (where, text) if sep and where.startswith("settings") else ("settings", message)
