"""A hyper-parameter search space: what ``--param`` says, checked against the document, applied to a copy of it.

Syntax of one dimension (the same in the CLI and the app's Sweep panel)::

    lr=1e-4..1e-1:log         a float range, sampled on a log scale
    hidden1.units=32..256     an int range (the parameter is an int)
    dropout1.p=0.0..0.5       a float range
    batch_size=32,64,128      a list of choices
    optimizer=adam,sgd        choices of a choice setting

The name is a training setting (``lr``, ``early_stopping.patience``, ``training.lr``), a data setting
(``data.val_fraction``) or a layer parameter ``node.param`` (``network/node.param`` to pick a network). Every
bound and choice is checked as the setting or parameter itself checks values, so a sweep never starts trials
that would fail on their first line. Optuna is only used through the ``suggest`` of a trial.
"""

from __future__ import annotations

import copy
import math
import re
from dataclasses import dataclass
from typing import Any

from netbuilder.document.model import Document
from netbuilder.specs.base import ParamError, ParamKind
from netbuilder.train import schema
from netbuilder.train import settings_check as check

_RANGE = re.compile(r"^\s*(?P<low>[^.,:][^,]*?)\s*\.\.\s*(?P<high>[^,:]+?)\s*(?::\s*(?P<scale>\w+))?\s*$")
SWEEPABLE_SETTING_TYPES = ("int", "float", "choice", "bool")
SWEEPABLE_PARAM_KINDS = (ParamKind.INT, ParamKind.FLOAT, ParamKind.CHOICE, ParamKind.BOOL)
EXAMPLES = "e.g. lr=1e-4..1e-1:log, batch_size=32,64,128 or hidden1.units=32..256"


class SpaceError(ValueError):
    """A ``--param`` that cannot be used; the message quotes it and says what to write instead."""


@dataclass(frozen=True)
class Dimension:
    """One swept setting or layer parameter."""

    name: str  # as the user wrote it (the Optuna parameter name)
    kind: str  # "float", "int" or "choice"
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()
    setting: str = ""  # "training.lr" for a setting
    network: str = ""  # for a layer parameter
    node: str = ""
    param: str = ""

    @property
    def is_setting(self) -> bool:
        return bool(self.setting)

    def describe(self) -> str:
        if self.kind == "choice":
            return f"{self.name} in {{{', '.join(map(str, self.choices))}}}"
        return f"{self.name} in [{self.low:g}, {self.high:g}]" + (" (log)" if self.log else "")

    def text(self) -> str:
        """The dimension written back in ``--param`` syntax."""
        if self.kind == "choice":
            return f"{self.name}={','.join(str(c).lower() if isinstance(c, bool) else str(c) for c in self.choices)}"
        low = int(self.low) if self.kind == "int" else self.low
        high = int(self.high) if self.kind == "int" else self.high
        return f"{self.name}={low}..{high}" + (":log" if self.log else "")

    def suggest(self, trial: Any) -> Any:
        """The value an Optuna trial picks for this dimension."""
        if self.kind == "choice":
            return trial.suggest_categorical(self.name, list(self.choices))
        assert self.low is not None and self.high is not None
        if self.kind == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(self.name, self.low, self.high, log=self.log)


@dataclass(frozen=True)
class _Target:
    kind: str  # "int", "float", "choice", "bool"
    where: str
    setting: Any = None  # schema.Setting
    network: str = ""
    node: str = ""
    param: Any = None  # specs Param

    def coerce(self, value: str) -> Any:
        if self.setting is not None:
            return check.parse(self.setting, value, self.where)
        try:
            return self.param.coerce(value)
        except ParamError as error:
            raise SpaceError(f"{self.where}: {error}") from None


def parse_dimension(text: str, document: Document) -> Dimension:
    """One ``--param NAME=SPEC`` checked against ``document``; SpaceError naming what is wrong."""
    name, sep, spec = str(text).partition("=")
    name, spec = name.strip(), spec.strip()
    if not sep or not name or not spec:
        raise SpaceError(f"--param {text!r}: write NAME=LOW..HIGH[:log] or NAME=A,B,C ({EXAMPLES}).")
    target = _resolve(name, document)
    range_match = _RANGE.match(spec) if "," not in spec else None
    try:
        if range_match:
            return _range(name, spec, range_match, target)
        choices = [part.strip() for part in spec.split(",")]
        if len(choices) < 2 or any(not part for part in choices):
            raise SpaceError(f"--param {text!r}: give a range LOW..HIGH or at least two choices separated by "
                             f"commas ({EXAMPLES}).")
        values = tuple(target.coerce(part) for part in choices)
    except schema.ConfigError as error:
        raise SpaceError(f"--param {text!r}: {error}") from None
    if len(set(map(repr, values))) != len(values):
        raise SpaceError(f"--param {text!r}: a choice is given twice.")
    for value in values:
        if not isinstance(value, bool | int | float | str):
            raise SpaceError(f"--param {text!r}: {target.where} takes values Optuna cannot choose between.")
    return _dimension(name, "choice", target, choices=values)


def _range(name: str, spec: str, match: re.Match[str], target: _Target) -> Dimension:
    where = f"--param {name}={spec}"
    if target.kind not in ("int", "float"):
        raise SpaceError(f"{where}: {target.where} is a {target.kind}, not a number; list its choices instead "
                         f"(e.g. {name}=a,b).")
    scale = (match.group("scale") or "").lower()
    if scale not in ("", "log", "linear"):
        raise SpaceError(f"{where}: unknown scale {scale!r}; write :log or nothing.")
    low, high = target.coerce(match.group("low")), target.coerce(match.group("high"))
    if low is None or high is None:
        raise SpaceError(f"{where}: a range needs two numbers.")
    if not low < high:
        raise SpaceError(f"{where}: the low end ({low}) must be below the high end ({high}).")
    if scale == "log" and low <= 0:
        raise SpaceError(f"{where}: a log range needs a low end above 0; got {low}.")
    return _dimension(name, target.kind, target, low=float(low), high=float(high), log=scale == "log")


def _dimension(name: str, kind: str, target: _Target, **more: Any) -> Dimension:
    if target.setting is not None:
        return Dimension(name, kind, setting=target.setting.id, **more)
    return Dimension(name, kind, network=target.network, node=target.node, param=target.param.name, **more)


def _resolve(name: str, document: Document) -> _Target:
    """The setting or layer parameter a name means; SpaceError listing close names when none."""
    section, _dot, rest = name.partition(".")
    if section in ("training", "data") and rest:
        return _setting_target(name, name)
    head, _slash, tail = name.rpartition("/")
    node_name, dot, param_name = tail.partition(".")
    networks = [document.network(head)] if head and head in document.networks else list(document) if not head \
        else []
    if head and not networks:
        raise SpaceError(f"--param {name}: the document has no network {head!r}; it has "
                         f"{', '.join(document.networks)}.")
    for network in networks:
        for node in network.nodes:
            if node.name != node_name:
                continue
            if not dot:
                raise SpaceError(f"--param {name}: {node_name} is a layer; name one of its parameters, e.g. "
                                 f"{node_name}.{node.spec.params[0].name if node.spec.params else 'units'}.")
            params = {p.name: p for p in node.spec.params}
            if param_name not in params:
                known = ", ".join(params) or "none"
                raise SpaceError(f"--param {name}: layer {node_name} ({node.type}) has no parameter {param_name!r}"
                                 f"{check.suggestion(param_name, params)}; its parameters: {known}.")
            param = params[param_name]
            if param.kind not in SWEEPABLE_PARAM_KINDS:
                raise SpaceError(f"--param {name}: {param.kind.value} parameters cannot be swept; only numbers, "
                                 "choices and true/false.")
            kind = {ParamKind.INT: "int", ParamKind.FLOAT: "float", ParamKind.BOOL: "bool"}.get(param.kind, "choice")
            return _Target(kind, f"{node_name}.{param_name}", network=network.name, node=node.name, param=param)
    if head:
        raise SpaceError(f"--param {name}: network {head} has no layer {node_name!r}.")
    return _setting_target(f"training.{name}", name, document)


def _setting_target(setting_id: str, name: str, document: Document | None = None) -> _Target:
    try:
        entry = schema.setting(setting_id)
    except KeyError:
        settings = [s.key for s in schema.SETTINGS if s.section == "training"]
        layers = [f"{n.name}.{p.name}" for network in document for n in network.nodes for p in n.spec.params
                  if p.kind in SWEEPABLE_PARAM_KINDS] if document is not None else []
        hint = check.suggestion(name, settings + [s.id for s in schema.SETTINGS] + layers)
        raise SpaceError(f"--param {name}: not a training setting nor a layer parameter{hint}. Name a setting "
                         "(lr, batch_size, data.val_fraction; see netbuilder settings) or a layer's parameter as "
                         "NODE.PARAM (hidden1.units).".replace("?.", "?")) from None
    if entry.type not in SWEEPABLE_SETTING_TYPES:
        raise SpaceError(f"--param {name}: {entry.id} is a {entry.type} setting; only numbers, choices and "
                         "true/false can be swept.")
    return _Target(entry.type, f"settings.{entry.id}", setting=entry)


def parse_space(texts: list[str], document: Document) -> list[Dimension]:
    """Every ``--param``; SpaceError for the first bad one or a name given twice."""
    if not texts:
        raise SpaceError(f"Give at least one --param to sweep ({EXAMPLES}).")
    dims: list[Dimension] = []
    for text in texts:
        dim = parse_dimension(text, document)
        if any(d.name == dim.name for d in dims):
            raise SpaceError(f"--param {dim.name} is given twice.")
        dims.append(dim)
    return dims


def apply(document: Document, dims: list[Dimension], values: dict[str, Any]) -> Document:
    """A copy of ``document`` with each dimension set to ``values[name]`` (settings and layer parameters)."""
    from netbuilder.io import document_from_dict, document_to_dict

    copy_ = document_from_dict(document_to_dict(document))
    copy_.path = document.path
    settings = copy.deepcopy(document.settings or {})
    for dim in dims:
        value = values[dim.name]
        if isinstance(value, float) and dim.kind == "int":
            value = int(round(value))
        if dim.is_setting:
            entry = schema.setting(dim.setting)
            section = settings.get(entry.section)
            if isinstance(section, str):  # "data": "digits"
                section = {"source": section}
            section = dict(section or {})
            schema.set_path(section, entry.path, value)
            settings[entry.section] = section
        else:
            network = copy_.network(dim.network)
            network.set_param(dim.node, dim.param, value)
    copy_.settings = settings
    return copy_


def default_values(document: Document, dims: list[Dimension]) -> dict[str, Any]:
    """What the document itself sets for each dimension (the baseline a sweep may start from)."""
    from netbuilder.train.config import TrainConfig

    config = TrainConfig.from_settings(document.settings)
    values: dict[str, Any] = {}
    for dim in dims:
        if dim.is_setting:
            values[dim.name] = config.get(dim.setting)
        else:
            values[dim.name] = document.network(dim.network).find(dim.node).params.get(dim.param)
    return values


def finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(float(value))
