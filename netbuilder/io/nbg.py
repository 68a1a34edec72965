"""``.nbg`` files: a document as versioned, human-readable JSON.

A file looks like this (format version 2)::

    {
      "format": "netbuilder",
      "format_version": 2,
      "info": {"title": "...", "description": "..."},
      "networks": [
        {
          "name": "model",
          "nodes": [
            {"id": "n1", "type": "Input", "version": 1, "name": "x", "params": {"shape": [64], ...},
             "position": [0.0, 0.0]},
            {"id": "n2", ..., "options": {"trainable": false}}      <- only options that differ from defaults
          ],
          "wires": [{"from": ["n1", "out"], "to": ["n2", "in"]}]
        }
      ],
      "settings": {...}
    }

A block node (format 3) also names its ``"block"``, and carries ``"expanded": true`` while its inside is shown in
place: an optional view state like the position, so it needs no new format version (older files open collapsed,
and an older NetBuilder ignores the key).

Keys are written in a fixed order, nodes and wires in document order, one JSON object per node, so that two saves
of the same document are byte-identical and a version-control diff shows only what changed.

Loading goes in stages, so that each stage only deals with one kind of problem and every message says where:

1. parse: bytes -> JSON (syntax errors with line and column; binary files and other programs' JSON refused);
2. migrate the file format: older format versions are rewritten to the current one, on the JSON tree;
3. plain records: check types and required fields of every network, node and wire;
4. migrate layer params: a node saved with an older version of its layer spec goes through ``spec.migrations``;
5. build: a `Document` whose nodes and wires go in through the primitive edits, params coerced by the spec.

Problems are collected across the whole file and reported together in one `LoadError`, so the user can fix them
at once. Loading never executes anything from the file: it is JSON only, no pickle, no eval.

Format version 1 (NetBuilder before per-node training options) differed in three ways: the title and description
were top-level keys, node params were stored under ``"config"``, and wires were strings ``"n1:out -> n2:in"`` in a
``"links"`` list.
"""

from __future__ import annotations

import contextlib
import copy
import gc
import json
import math
import os
import reprlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import networkx as nx

from netbuilder.document.blocks import is_usable_node_name
from netbuilder.document.model import (
    Document,
    DocumentError,
    DocumentInfo,
    NameAllocator,
    Network,
    Node,
    Wire,
    check_name_form,
    check_node_options,
    settings_problems,
)
from netbuilder.fs.limits import FileRefused, read_limited
from netbuilder.io.atomic import SaveError, describe_os_error, write_atomic
from netbuilder.specs import LayerSpec, ParamError, UnknownLayerError, get_spec

FORMAT_NAME = "netbuilder"
FORMAT_VERSION = 3  # 3: block definitions ("blocks"), block nodes ("block", "bindings")
FILE_SUFFIX = ".nbg"
MAX_LISTED_PROBLEMS = 20
MAX_DEPTH = 64  # documents nest about 6 levels; settings a few more

_OPTION_DEFAULTS: dict[str, Any] = {f.name: f.default for f in fields(Node) if f.name in ("trainable", "lr_mult",
                                                                                          "l1", "l2")}


# ---------------------------------------------------------------------------------------------------------------
# Errors


@dataclass(frozen=True)
class LoadProblem:
    """One thing wrong with a file, and where: e.g. ``network 'model', node n3 (linear1), param 'units'``."""

    message: str
    location: str = ""

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.location else self.message


class LoadError(Exception):
    """A file cannot be opened. ``location`` names the file (and the place in it, for a single problem);
    ``problems`` lists every problem found, so the user can fix them all in one go."""

    def __init__(self, message: str, location: str = "", problems: Sequence[LoadProblem] = ()):
        message, location = _clip(message), _clip(location, 300)
        self.message = message
        self.location = location
        self.problems = list(problems)
        super().__init__(message, location)

    def __str__(self) -> str:
        if len(self.problems) > 1:
            head = f"{self.location or 'The file'} cannot be opened: {self.message}"
            lines = [f"  - {p}" for p in self.problems[:MAX_LISTED_PROBLEMS]]
            if len(self.problems) > MAX_LISTED_PROBLEMS:
                lines.append(f"  … and {len(self.problems) - MAX_LISTED_PROBLEMS} more")
            return "\n".join([head, *lines])
        return f"{self.location}: {self.message}" if self.location else self.message


class _Problems:
    """Collects problems during one load; raises them together at the end."""

    def __init__(self, source: str):
        self.source = source
        self.items: list[LoadProblem] = []

    def add(self, where: str, message: str) -> None:
        self.items.append(LoadProblem(_clip(message), _clip(where, 200)))

    def raise_if_any(self) -> None:
        if not self.items:
            return
        if len(self.items) == 1:
            only = self.items[0]
            location = ", ".join(part for part in (self.source, only.location) if part)
            raise LoadError(only.message, location, self.items)
        raise LoadError(f"{len(self.items)} problems were found.", self.source, self.items)


def _at(*parts: str) -> str:
    return ", ".join(p for p in parts if p)


def _network_where(index: int, raw: Any) -> str:
    name = raw.get("name") if isinstance(raw, dict) else None
    return f"network {_short(name)}" if isinstance(name, str) and name else f"network #{index + 1}"


def _node_where(index: int, raw: Any) -> str:
    node_id = raw.get("id") if isinstance(raw, dict) else None
    name = raw.get("name") if isinstance(raw, dict) else None
    label = f" ({_text(name)})" if isinstance(name, str) and name else ""
    if isinstance(node_id, str) and node_id:
        return f"node {_text(node_id)}{label}"
    return f"node #{index + 1}{label}"


def _text(text: str, limit: int = 60) -> str:
    """Text from the file (an id, a name) as it appears in a location, cut short when it is long."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _kind(value: Any) -> str:
    """The JSON name of a value's type, for messages like 'must be a list, not a number'."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


_QUOTE = reprlib.Repr()
_QUOTE.maxstring = _QUOTE.maxother = 200
_QUOTE.maxlist = _QUOTE.maxdict = _QUOTE.maxtuple = 8
_QUOTE.maxlevel = 3
MAX_MESSAGE = 400  # characters of one problem's text; a 100 MB bad value must not become a 100 MB message


def _short(value: Any, limit: int = 60) -> str:
    """A value quoted for a message, in time and length bounded whatever its size (no full repr of a huge
    string or list)."""
    text = _QUOTE.repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _clip(text: str, limit: int = MAX_MESSAGE) -> str:
    """At most ``limit`` characters of a message: its start and its end, which say what and where."""
    if len(text) <= limit:
        return text
    keep = (limit - 1) // 2
    return text[:keep] + "…" + text[len(text) - keep:]


# ---------------------------------------------------------------------------------------------------------------
# Saving


def document_to_dict(doc: Document) -> dict[str, Any]:
    """The document as plain JSON values in file layout (format version `FORMAT_VERSION`).

    Raises `SaveError` when a setting holds something JSON cannot store (an object, NaN), naming the setting.
    """
    result = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "info": {"title": doc.info.title, "description": doc.info.description},
        "networks": [_network_to_dict(net) for net in doc],
        "settings": _json_value(doc.settings, "the document settings", depth=2),
    }
    if doc.blocks:
        from netbuilder.io.nbg_blocks import blocks_to_list

        result["blocks"] = blocks_to_list(doc, _network_to_dict)
    return result


def _network_to_dict(net: Network) -> dict[str, Any]:
    nodes = []
    for node in net.nodes:
        try:
            spec = net.spec_of(node)
        except DocumentError as error:
            raise SaveError(f"Cannot save node {node.name} of network {net.name!r}: {error}") from None
        except UnknownLayerError:
            raise SaveError(f"Cannot save node {node.name} of network {net.name!r}: its layer type "
                            f"{node.type!r} is unknown.") from None
        entry: dict[str, Any] = {
            "id": node.id,
            "type": node.type,
            "version": spec.version,
            "name": node.name,
            "params": {name: _json_value(value, f"parameter {name!r} of {node.name}", depth=7)
                       for name, value in node.params.items()},
            "position": [float(node.position[0]), float(node.position[1])],
        }
        if node.block:
            entry["block"] = node.block
        if node.bindings:
            entry["bindings"] = dict(node.bindings)
        if node.expanded and node.type == "Block":
            entry["expanded"] = True  # view state, written only when set: older files load as collapsed
        options = {key: value for key, value in node.options().items() if value != _OPTION_DEFAULTS[key]}
        if options:
            entry["options"] = {key: bool(value) if key == "trainable" else float(value)
                                for key, value in options.items()}
        nodes.append(entry)
    wires = [{"from": [w.src, w.src_port], "to": [w.dst, w.dst_port]} for w in net.wires]
    return {"name": net.name, "nodes": nodes, "wires": wires}


def _json_value(value: Any, what: str, depth: int = 4) -> Any:
    """Plain JSON values: tuples become lists; anything JSON cannot hold (or that the loader would refuse as
    nested too deeply) raises SaveError naming ``what``. ``depth`` is the nesting level in the file."""
    if depth > MAX_DEPTH:
        raise SaveError(f"Cannot save {what}: it nests values more than {MAX_DEPTH} levels deep.")
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise SaveError(f"Cannot save {what}: {value} is not a finite number.")
        return value
    if isinstance(value, list | tuple):
        return [_json_value(v, what, depth + 1) for v in value]
    if isinstance(value, dict):
        result = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise SaveError(f"Cannot save {what}: its key {key!r} is not text.")
            result[key] = _json_value(item, f"setting {key!r}" if what == "the document settings" else what,
                                      depth + 1)
        return result
    raise SaveError(f"Cannot save {what}: a {type(value).__name__} value cannot be stored in a .nbg file.")


def dumps_document(doc: Document) -> str:
    """The file text of a document: stable key order, indent 2, short lists of numbers and each wire on one
    line, so that a diff of two versions shows one changed line per changed value."""
    return _dumps(document_to_dict(doc), 0) + "\n"


def save_document(doc: Document, path: str | os.PathLike[str]) -> None:
    """Write the document to ``path`` atomically: a failed save leaves the old file as it was.

    Raises `SaveError` with the path and a plain reason (folder missing, read-only, disk full, ...). Marking the
    document as saved is the caller's job (`Document.save` does it).
    """
    write_atomic(path, dumps_document(doc).encode("utf-8"), what="document")


def _dumps(value: Any, level: int) -> str:
    if isinstance(value, dict):
        if not value:
            return "{}"
        if all(isinstance(v, list) and not any(isinstance(i, dict | list) for i in v) for v in value.values()):
            inline = "{" + ", ".join(f"{_scalar(str(k))}: {_dumps(v, level + 1)}" for k, v in value.items()) + "}"
            if len(inline) <= 100:  # e.g. a wire: {"from": ["n1", "out"], "to": ["n2", "in"]}, one per line
                return inline
        pad = "  " * (level + 1)
        items = [f"{pad}{_scalar(str(k))}: {_dumps(v, level + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + "  " * level + "}"
    if isinstance(value, list):
        if not value:
            return "[]"
        if not any(isinstance(v, dict | list) for v in value):
            inline = "[" + ", ".join(_scalar(v) for v in value) + "]"
            if len(inline) <= 80:
                return inline
        pad = "  " * (level + 1)
        return "[\n" + ",\n".join(pad + _dumps(v, level + 1) for v in value) + "\n" + "  " * level + "]"
    return _scalar(value)


_encode_string = json.encoder.encode_basestring  # type: ignore[attr-defined]


def _scalar(value: Any) -> str:
    # The same text json.dumps writes, without its per-call set-up (a file of 1000 nodes has 100,000 scalars).
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate can only be written escaped
            return json.dumps(value, ensure_ascii=True)
        return _encode_string(value)
    if isinstance(value, int):
        return int.__repr__(value)
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


# ---------------------------------------------------------------------------------------------------------------
# Loading, stage 1: parse


class _NonFinite(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    raise _NonFinite(name)


def load_document(path: str | os.PathLike[str]) -> Document:
    """Open a ``.nbg`` file. Raises `LoadError` listing every problem, each with its place in the file.

    The returned document has a clean, empty undo history.
    """
    file = Path(path)
    source = file.name or str(file)
    document = document_from_dict(parse_bytes(read_file(file, "NetBuilder file"), source), source)
    document.path = os.path.abspath(file)  # settings' relative paths resolve against this file's folder
    return document


def read_file(file: Path, what: str, kind: str = "document") -> bytes:
    """The bytes of a file, or a LoadError that says plainly why not (missing, a folder, unreadable, not a
    regular file, over the size limit of ``kind`` in `netbuilder.fs.limits`)."""
    try:
        return read_limited(file, kind)
    except FileRefused as error:
        raise LoadError(f"This file {error.reason}", str(file)) from None
    except FileNotFoundError:
        raise LoadError(f"The {what} does not exist.", str(file)) from None
    except IsADirectoryError:
        raise LoadError(f"This is a folder, not a {what}.", str(file)) from None
    except OSError as error:
        raise LoadError(f"The {what} cannot be read: {describe_os_error(error)}.", str(file)) from None


def parse_bytes(data: bytes, source: str = "<memory>") -> Any:
    """Stage 1: the JSON tree of a file's bytes, or a LoadError saying plainly why it is not one."""
    if not data.strip():
        raise LoadError("The file is empty.", source)
    if b"\x00" in data[:8192]:
        raise LoadError("This is a binary file, not a NetBuilder document (.nbg files are JSON text).", source)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise LoadError(f"This is not a NetBuilder document: it is not UTF-8 text (bad byte at offset "
                        f"{error.start}).", source) from None
    try:
        with _collector_paused():
            return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as error:
        raise LoadError(f"This is not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}.",
                        source) from None
    except _NonFinite as error:
        raise LoadError(f"The file uses {error}, which is not a number JSON allows.", source) from None
    except ValueError as error:  # e.g. an integer with thousands of digits
        raise LoadError(f"This is not valid JSON: {error}.", source) from None
    except RecursionError:
        raise LoadError("The file nests too deeply to be a NetBuilder document.", source) from None


def document_from_dict(data: Any, source: str = "<memory>") -> Document:
    """Stages 2-5: build a document from a parsed file. ``source`` names the file in error messages.

    The input is not modified. Raises `LoadError` listing every problem found.
    """
    with _collector_paused():
        return _document_from_dict(data, source)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """A load makes hundreds of thousands of objects that all live on, and the cycle collector would walk every
    one of them again and again (half the time of a 20,000-node load); it runs as usual afterwards."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def _document_from_dict(data: Any, source: str) -> Document:
    version = _check_header(data, source)
    too_deep, non_finite = _scan(data)
    if too_deep:
        raise LoadError(f"The file nests values more than {MAX_DEPTH} levels deep; it is not a NetBuilder "
                        "document or it is damaged.", source)
    if non_finite:
        raise LoadError(f"{_non_finite_where(data)} is too large to be a number (or not a number); a document "
                        "holds finite numbers only. Correct that value in the file.", source)
    problems = _Problems(source)
    # The records copy what they keep (settings are deep-copied below), so only a migration, which rewrites the
    # tree, needs a private copy of it; current files skip that cost.
    tree = copy.deepcopy(data) if version < FORMAT_VERSION else data
    for step in range(version, FORMAT_VERSION):
        tree = FORMAT_MIGRATIONS[step](tree, problems)
    record = _read_document(tree, problems)
    for network in [*record.networks, *(block.network for block in record.blocks)]:
        for node in network.nodes:
            _migrate_node(node, problems)
    doc = _build(record, problems)
    problems.raise_if_any()
    return doc


def _scan(data: Any) -> tuple[bool, bool]:
    """(nests deeper than MAX_DEPTH, holds a number that is not finite), in one walk level by level, without
    recursion (so it cannot overflow). JSON has no inf or NaN, but ``1e999`` parses as inf, and a document holding
    one could not be saved again."""
    non_finite = False
    level = [data]
    for _ in range(MAX_DEPTH):
        below: list[Any] = []
        for value in level:
            if isinstance(value, dict):
                below.extend(value.values())
            elif isinstance(value, list):
                below.extend(value)
            elif isinstance(value, float) and not math.isfinite(value):
                non_finite = True
        if not below:
            return False, non_finite
        level = below
    return any(isinstance(value, dict | list) for value in level), non_finite


def _non_finite_where(data: Any) -> str:
    """Where the first non-finite number is, as a path in the file: ``networks[0].nodes[2].params.p``."""
    stack: list[tuple[Any, str]] = [(data, "")]
    while stack:
        value, path = stack.pop()
        if isinstance(value, dict):
            stack.extend((v, f"{path}.{_text(str(k), 40)}" if path else _text(str(k), 40))
                         for k, v in reversed(value.items()))
        elif isinstance(value, list | tuple):
            stack.extend((v, f"{path}[{i}]") for i, v in reversed(list(enumerate(value))))
        elif isinstance(value, float) and not math.isfinite(value):
            return f"The value at {path or 'the top level'}"
    return "A value"


def _check_header(data: Any, source: str) -> int:
    """Refuse other programs' JSON and newer formats with one clear message; return the format version."""
    if not isinstance(data, dict):
        raise LoadError(f"This is JSON, but not a NetBuilder document (its top level is {_kind(data)}, not an "
                        "object).", source)
    fmt = data.get("format")
    if fmt != FORMAT_NAME:
        if isinstance(fmt, str):
            raise LoadError(f"This is a {_short(fmt)} file, not a NetBuilder document.", source)
        raise LoadError('This is JSON from another program, not a NetBuilder document (it has no "format": '
                        '"netbuilder" entry).', source)
    version = data.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise LoadError(f"format_version must be a whole number, not {_short(version)}; the file is damaged.",
                        source)
    if version > FORMAT_VERSION:
        raise LoadError(f"This file was made by a newer NetBuilder (file format version {version}; this version "
                        f"reads up to {FORMAT_VERSION}). Update NetBuilder to open it.", source)
    if version < 1:
        raise LoadError(f"Unknown file format version {version}; the file is damaged.", source)
    return version


# ---------------------------------------------------------------------------------------------------------------
# Stage 2: file-format migrations, on the JSON tree. Each tolerates a damaged tree: what it cannot rewrite it
# leaves as it is, for the record stage to report.


def _v1_to_v2(tree: dict[str, Any], problems: _Problems) -> dict[str, Any]:
    """Version 1 -> 2: info object, params instead of config, wire objects instead of link strings."""
    result: dict[str, Any] = {"format": FORMAT_NAME, "format_version": 2}
    info = {key: tree[key] for key in ("title", "description") if key in tree}
    result["info"] = info
    networks = tree.get("networks")
    if isinstance(networks, list):
        result["networks"] = [_v1_network(i, net, problems) for i, net in enumerate(networks)]
    elif "networks" in tree:
        result["networks"] = networks
    if "settings" in tree:
        result["settings"] = tree["settings"]
    return result


def _v1_network(index: int, net: Any, problems: _Problems) -> Any:
    if not isinstance(net, dict):
        return net
    where = _network_where(index, net)
    result = {key: value for key, value in net.items() if key not in ("nodes", "links")}
    nodes = net.get("nodes")
    if isinstance(nodes, list):
        result["nodes"] = [_v1_node(node) for node in nodes]
    elif "nodes" in net:
        result["nodes"] = nodes
    links = net.get("links", [])
    if not isinstance(links, list):
        problems.add(_at(where, "field 'links'"), f"must be a list, not {_kind(links)}.")
        links = []
    wires = []
    for number, link in enumerate(links, 1):
        parsed = _parse_link(link)
        if parsed is None:
            problems.add(_at(where, f"link #{number} ({_short(link)})"),
                         'A link must look like "n1:out -> n2:in".')
            continue
        (src, src_port), (dst, dst_port) = parsed
        wires.append({"from": [src, src_port], "to": [dst, dst_port]})
    result["wires"] = wires
    return result


def _v1_node(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    return {("params" if key == "config" else key): value for key, value in node.items()}


def _parse_link(link: Any) -> tuple[tuple[str, str], tuple[str, str]] | None:
    if not isinstance(link, str) or link.count("->") != 1:
        return None
    ends = []
    for end in link.split("->"):
        node, sep, port = end.strip().rpartition(":")
        if not sep or not node.strip() or not port.strip():
            return None
        ends.append((node.strip(), port.strip()))
    return ends[0], ends[1]


def _v2_to_v3(tree: dict[str, Any], problems: _Problems) -> dict[str, Any]:
    """Version 2 -> 3: blocks arrived; a version 2 file has none, so only the version changes."""
    result = dict(tree)
    result["format_version"] = 3
    return result


FORMAT_MIGRATIONS: dict[int, Callable[[dict[str, Any], _Problems], dict[str, Any]]] = {1: _v1_to_v2,
                                                                                       2: _v2_to_v3}


# ---------------------------------------------------------------------------------------------------------------
# Stage 3: plain records


@dataclass
class _NodeRecord:
    id: str
    type: str
    version: int | None
    name: str | None
    params: dict[str, Any]
    position: tuple[float, float]
    options: dict[str, Any]
    net_where: str
    index: int
    spec: LayerSpec | None = None
    ok: bool = True
    block: str = ""  # a block node's definition
    bindings: dict[str, str] = field(default_factory=dict)
    expanded: bool = False  # a block node shown with its inside in place (a layer's flag is dropped)

    @property
    def where(self) -> str:
        """The node's place, worked out only when a problem is reported (a large file has thousands of nodes)."""
        return _at(self.net_where, _node_where(self.index, {"id": self.id, "name": self.name}))


@dataclass
class _WireRecord:
    src: str
    src_port: str
    dst: str
    dst_port: str
    net_where: str
    index: int

    @property
    def where(self) -> str:
        ends = f"{_text(self.src)}:{_text(self.src_port)} -> {_text(self.dst)}:{_text(self.dst_port)}"
        return f"{_at(self.net_where, f'wire #{self.index + 1}')} ({ends})"


@dataclass
class _NetworkRecord:
    name: str
    where: str
    nodes: list[_NodeRecord] = field(default_factory=list)
    wires: list[_WireRecord] = field(default_factory=list)
    dropped: set[str] = field(default_factory=set)  # ids of nodes already reported as unusable


@dataclass
class _DocumentRecord:
    title: str = ""
    description: str = ""
    networks: list[_NetworkRecord] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    blocks: list[Any] = field(default_factory=list)  # netbuilder.io.nbg_blocks.BlockFileRecord


def _read_document(tree: dict[str, Any], problems: _Problems) -> _DocumentRecord:
    record = _DocumentRecord()
    info = tree.get("info", {})
    if isinstance(info, dict):
        for key in ("title", "description"):
            value = info.get(key, "")
            if isinstance(value, str):
                setattr(record, key, value)
            else:
                problems.add(f"info, field {key!r}", f"must be text, not {_kind(value)}.")
    else:
        problems.add("field 'info'", f"must be an object with a title and a description, not {_kind(info)}.")

    settings = tree.get("settings", {})
    if isinstance(settings, dict):
        record.settings = copy.deepcopy(settings)  # the document edits its settings; never the caller's dict
        _check_settings(settings, problems)
    else:
        problems.add("field 'settings'", f"must be an object, not {_kind(settings)}.")

    if "networks" not in tree:
        problems.add("", "The file has no 'networks' list.")
        return record
    networks = tree["networks"]
    if not isinstance(networks, list):
        problems.add("field 'networks'", f"must be a list, not {_kind(networks)}.")
        return record
    names: set[str] = set()
    if "blocks" in tree:
        from netbuilder.io.nbg_blocks import read_blocks

        record.blocks = read_blocks(tree["blocks"], problems, _read_network, names)
    for index, raw in enumerate(networks):
        net = _read_network(index, raw, problems)
        if net is None:
            continue
        if net.name in names:
            problems.add(net.where, "Another network already has this name.")
            continue
        names.add(net.name)
        record.networks.append(net)
    return record


def _check_settings(settings: dict[str, Any], problems: _Problems) -> None:
    """Report a settings section of the wrong kind (``"data": 5``) where it is, at load, instead of letting
    training fail on it later. The values inside are checked by the training engine, with their names."""
    for where, message in settings_problems(settings):
        problems.add(where, message)




def _read_network(index: int, raw: Any, problems: _Problems) -> _NetworkRecord | None:
    where = _network_where(index, raw)
    if not isinstance(raw, dict):
        problems.add(where, f"must be an object, not {_kind(raw)}.")
        return None
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.add(_at(where, "field 'name'"), "A network needs a name (non-empty text)."
                     if "name" in raw else "The network has no name.")
        return None
    net = _NetworkRecord(name, where)
    nodes = raw.get("nodes")
    if not isinstance(nodes, list):
        problems.add(_at(where, "field 'nodes'"), "The network has no 'nodes' list." if nodes is None
                     else f"must be a list, not {_kind(nodes)}.")
        nodes = []
    ids: set[str] = set()
    for node_index, raw_node in enumerate(nodes):
        node = _read_node(node_index, raw_node, where, problems)
        if node is None:
            if isinstance(raw_node, dict) and isinstance(raw_node.get("id"), str):
                net.dropped.add(raw_node["id"])
            continue
        if node.id in ids:
            problems.add(node.where, f"Another node already has the id {_short(node.id)}.")
            continue
        ids.add(node.id)
        net.nodes.append(node)
    wires = raw.get("wires", [])
    if not isinstance(wires, list):
        problems.add(_at(where, "field 'wires'"), f"must be a list, not {_kind(wires)}.")
        wires = []
    for wire_index, raw_wire in enumerate(wires):
        wire = _read_wire(wire_index, raw_wire, where, problems)
        if wire is not None:
            net.wires.append(wire)
    return net


def _read_node(index: int, raw: Any, net_where: str, problems: _Problems) -> _NodeRecord | None:
    if not isinstance(raw, dict):
        problems.add(_at(net_where, _node_where(index, raw)), f"must be an object, not {_kind(raw)}.")
        return None
    ok = True

    def bad(field_name: str, message: str) -> None:
        nonlocal ok
        ok = False
        problems.add(_at(net_where, _node_where(index, raw), f"field {field_name!r}"), message)

    node_id = raw.get("id")
    if not isinstance(node_id, str) or not node_id:
        bad("id", "The node has no id." if "id" not in raw else f"must be non-empty text, not {_short(node_id)}.")
    type_id = raw.get("type")
    if not isinstance(type_id, str) or not type_id:
        bad("type", "The node has no layer type." if "type" not in raw
            else f"must be a layer type name, not {_short(type_id)}.")
    version = raw.get("version")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int) or version < 1):
        bad("version", f"must be a whole number of at least 1, not {_short(version)}.")
    name = raw.get("name")
    if name is not None and not isinstance(name, str):
        bad("name", f"must be text, not {_kind(name)}.")
    params = raw.get("params", {})
    if not isinstance(params, dict):
        bad("params", f"must be an object of parameter values, not {_kind(params)}.")
    position = _read_position(raw.get("position", [0.0, 0.0]))
    if position is None:
        bad("position", f"must be two finite numbers [x, y], not {_short(raw.get('position'))}.")
    options = raw.get("options", {})
    if not isinstance(options, dict):
        bad("options", f"must be an object, not {_kind(options)}.")
    else:
        try:
            options = check_node_options(options)
        except ParamError as error:
            bad("options", str(error))
    block = raw.get("block", "")
    if not isinstance(block, str) or (type_id == "Block") != bool(block):
        bad("block", "A block node names its block (text); other nodes have no 'block' field.")
    bindings = raw.get("bindings", {})
    if not isinstance(bindings, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                 for k, v in bindings.items()):
        bad("bindings", "must map parameter names to expressions (text).")
    expanded = raw.get("expanded", False)
    if not isinstance(expanded, bool):
        bad("expanded", f"must be true or false, not {_short(expanded)}.")
    if not ok:
        return None
    assert position is not None
    return _NodeRecord(node_id, type_id, version, name, dict(params), position, options, net_where, index,
                       block=block, bindings=dict(bindings), expanded=expanded and type_id == "Block")


def _read_position(value: Any) -> tuple[float, float] | None:
    if not isinstance(value, list | tuple) or len(value) != 2:
        return None
    result = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int | float):
            return None
        try:
            number = float(item)
        except OverflowError:
            return None
        if not math.isfinite(number):
            return None
        result.append(number)
    return result[0], result[1]


def _read_wire(index: int, raw: Any, net_where: str, problems: _Problems) -> _WireRecord | None:
    if not isinstance(raw, dict):
        problems.add(_at(net_where, f"wire #{index + 1}"), f"must be an object with 'from' and 'to', not "
                     f"{_kind(raw)}.")
        return None
    ends = []
    for key in ("from", "to"):
        end = raw.get(key)
        if not (isinstance(end, list) and len(end) == 2 and isinstance(end[0], str) and end[0]
                and isinstance(end[1], str) and end[1]):
            problems.add(_at(net_where, f"wire #{index + 1}", f"field {key!r}"),
                         f"The wire has no {key!r} end." if key not in raw
                         else f"must be [node id, port name], not {_short(end)}.")
            return None
        ends.append(end)
    (src, src_port), (dst, dst_port) = ends
    return _WireRecord(src, src_port, dst, dst_port, net_where, index)


# ---------------------------------------------------------------------------------------------------------------
# Stage 4: per-layer param migrations


def _migrate_node(node: _NodeRecord, problems: _Problems) -> None:
    if node.type == "Block":
        return  # its spec is its definition's, known once the definitions are built
    try:
        spec = get_spec(node.type)
    except UnknownLayerError:
        node.ok = False
        problems.add(node.where, f"Unknown layer type {_short(node.type)}. The file may come from a newer NetBuilder; "
                     "update NetBuilder or remove this node from the file.")
        return
    node.spec = spec
    version = spec.version if node.version is None else node.version
    if version > spec.version:
        node.ok = False
        problems.add(node.where, f"This {spec.title} layer was saved by a newer NetBuilder (layer version "
                     f"{version}; this version knows up to {spec.version}). Update NetBuilder to open it.")
        return
    params = node.params
    while version < spec.version:
        step = spec.migrations.get(version)
        if step is None:
            node.ok = False
            problems.add(node.where, f"This {spec.title} layer was saved as version {version}, and this "
                         f"NetBuilder cannot convert that version to {spec.version}.")
            return
        try:
            params = step(copy.deepcopy(params))
        except Exception as error:  # a migration of damaged params must not crash the load
            node.ok = False
            problems.add(node.where, f"Its parameters could not be converted from {spec.title} version "
                         f"{version}: {error}")
            return
        if not isinstance(params, dict):
            node.ok = False
            problems.add(node.where, f"Converting {spec.title} version {version} gave no parameters.")
            return
        version += 1
    node.params = params


# ---------------------------------------------------------------------------------------------------------------
# Stage 5: build


def _build(record: _DocumentRecord, problems: _Problems) -> Document:
    doc = Document(network_names=())
    doc.info = DocumentInfo(record.title, record.description)
    doc.settings = record.settings
    if record.blocks:
        from netbuilder.io.nbg_blocks import build_blocks

        build_blocks(doc, record.blocks, problems, _build_network)
    for net_record in record.networks:
        net = Network(net_record.name)  # joins the document when built: nobody listens to a load's edits
        net._block_table = doc.blocks
        doc.networks[net.name] = net
        _build_network(net, net_record, problems)
        net.document = doc
    doc.undo_stack.clear()
    return doc


def _build_network(net: Network, net_record: _NetworkRecord, problems: _Problems) -> None:
    """Build the nodes and wires of one network (or block definition) from its records."""
    # The names the file gives are taken: a generated name must not take one a later node has.
    names = NameAllocator({node.name for node in net_record.nodes if node.name})
    used: set[str] = set()
    for node in net_record.nodes:
        if not (node.ok and _build_node(net, node, names, used, problems)):
            net_record.dropped.add(node.id)
    built: list[tuple[Wire, _WireRecord]] = []
    for wire_record in net_record.wires:
        if wire_record.src in net_record.dropped or wire_record.dst in net_record.dropped:
            continue  # the node was reported already; a second message about its wires adds nothing
        wire = _build_wire(net, wire_record, problems)
        if wire is not None:
            built.append((wire, wire_record))
    _report_loops(net, built, problems)


def _build_node(net: Network, record: _NodeRecord, names: NameAllocator, used: set[str],
                problems: _Problems) -> bool:
    """Insert one node. ``names`` makes the names of unnamed nodes (linear1, ...), avoiding every name the file
    gives; ``used`` holds the names of the nodes built so far. Both are kept here, so that a large file loads in
    linear time."""
    if record.type == "Block":
        try:
            spec = net.spec_of(Node(record.id, record.type, "", {}, block=record.block))
        except DocumentError as error:
            problems.add(_at(record.where, "field 'block'"), str(error).split(" uses ", 1)[-1].capitalize())
            return False
    else:
        spec = record.spec
    assert spec is not None
    ok = True
    known = {p.name for p in spec.params}
    for name in record.params:
        if name not in known:
            ok = False
            problems.add(_at(record.where, f"param {_short(name)}"), f"{spec.title} has no parameter {_short(name)}.")
    params: dict[str, Any] = {}
    for param in spec.params:
        value = record.params.get(param.name, param.default)
        try:
            params[param.name] = param.coerce(value)
        except ParamError as error:
            ok = False
            problems.add(_at(record.where, f"param {param.name!r}"), str(error))
        except Exception:  # an absurd value (e.g. a number too large for a float) is still just a bad value
            ok = False
            problems.add(_at(record.where, f"param {param.name!r}"), f"{_short(value)} is not a usable value.")
    if not ok:
        return False
    if record.name is None:
        name = names.make(spec.id)  # e.g. linear1, and no name a later node takes
    else:
        name = record.name
        try:
            if not is_usable_node_name(name, net.is_block):
                check_name_form(name)
            if name in used:
                raise DocumentError(f"Another node is already named {name!r}.")
        except DocumentError as error:
            problems.add(_at(record.where, "field 'name'"), str(error))
            return False
    if record.bindings and not net.is_block:
        problems.add(_at(record.where, "field 'bindings'"), "Only a node inside a block can take parameters from "
                     "the block.")
        return False
    used.add(name)
    net._insert_node(Node(record.id, spec.id, name, params, record.position, **record.options,
                          block=record.block, bindings=dict(record.bindings), expanded=record.expanded))
    return True


def _build_wire(net: Network, record: _WireRecord, problems: _Problems) -> Wire | None:
    """Insert one wire after the checks that look at its two ends only; loops are found once for the whole
    network by `_report_loops` (a search per wire would make loading quadratic)."""
    for end in (record.src, record.dst):
        if end not in net:
            problems.add(record.where, f"There is no node {_short(end)} in this network.")
            return None
    wire = Wire(record.src, record.src_port, record.dst, record.dst_port)
    try:
        net.check_wire(wire, check_loop=False, block_ports=False)
    except DocumentError as error:
        problems.add(record.where, str(error))
        return None
    except Exception as error:  # a layer's port rule failing on these params: report, don't crash
        problems.add(record.where, f"The wire cannot be checked: {_short(error, 200)}")
        return None
    net._insert_wire(wire)
    return wire


def _report_loops(net: Network, built: list[tuple[Wire, _WireRecord]], problems: _Problems) -> None:
    """Report wires that close a loop: for each loop found, the one latest in the file (the editor never makes
    loops, so this is a damaged file; the load fails and a few examples are enough to find the damage)."""
    if net.is_acyclic():
        return
    position = {wire: (index, record) for index, (wire, record) in enumerate(built)}
    for _ in range(MAX_LISTED_PROBLEMS):
        try:
            cycle = nx.find_cycle(net.graph)
        except nx.NetworkXNoCycle:
            return
        wires = [net.graph.edges[u, v, key]["wire"] for u, v, key in cycle]
        latest = max(wires, key=lambda wire: position[wire][0])
        record = position[latest][1]
        problems.add(record.where, f"Wiring {_text(net.node(latest.src).name)} into "
                     f"{_text(net.node(latest.dst).name)} would make a loop; networks must flow one way.")
        net._delete_wire(latest)
    if not net.is_acyclic():
        problems.add(_at(f"network {_short(net.name)}"), "More wires close loops.")
