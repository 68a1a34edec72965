"""Seeded mutations of real ``.nbg`` files, and the check every mutated file must pass.

A mutated file is made from (seed, index) alone, so any finding is reproduced from its two numbers:
``python tests/fuzz/run_fuzz.py --seed S --only INDEX``. Mutations work on the bytes (flips, cuts, insertions)
and on the JSON (a value replaced by a huge, non-finite, wrong-kind or deeply nested one; keys duplicated or
dropped; nodes and wires duplicated or swapped), then the text is written back with a few raw tokens JSON
libraries never write themselves (``1e999``, ``NaN``, integers of thousands of digits, thousands of brackets).

`check` loads a file the way the app does (parse, build, analyse every network) and sorts the outcome: a clean
`LoadError`, or a load whose document saves and loads back to the same text. Anything else is a finding.
"""

from __future__ import annotations

import contextlib
import copy
import json
import random
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = sorted((ROOT / "resources" / "templates").glob("*.nbg"))

# Raw tokens put into the text where a placeholder string stands (json.dumps cannot write them).
_RAW = {
    "@@INF@@": "1e999",
    "@@NEGINF@@": "-1e999",
    "@@NAN@@": "NaN",
    "@@INFINITY@@": "Infinity",
    "@@BIGINT@@": "9" * 5000,  # over Python's 4,300-digit limit for int(str)
    "@@LONGINT@@": "7" * 4000,  # under it: parses, and is a huge number
    "@@DEEP@@": "[" * 3000 + "]" * 3000,
    "@@DEEPOBJ@@": '{"a":' * 200 + "1" + "}" * 200,
    "@@SURROGATE@@": '"\\ud800x"',
}


def _values(rng: random.Random, big: int) -> list[Any]:
    """Replacement values: wrong kinds, edge numbers, huge and nested ones."""
    return [
        None, True, False, 0, -1, 1, 2**31, 2**63, -(2**63), 10**300, 0.5, -0.0, 1e308, 5e-324,
        "", " ", "x", "n1", "out", "in", "Linear", "Input", "model", "../../../etc", "a" * big, "é\u202e",
        [], {}, [1], [[1]], [None], {"a": 1}, ["n1", "out"], [0, 0, 0, 0], [1] * 64, list(range(big // 100)),
        {"shape": [1, 2, 3]}, {"": ""}, "@@INF@@", "@@NEGINF@@", "@@NAN@@", "@@INFINITY@@", "@@BIGINT@@",
        "@@LONGINT@@", "@@DEEP@@", "@@DEEPOBJ@@", "@@SURROGATE@@", rng.randint(-10**6, 10**6),
        rng.uniform(-1e6, 1e6),
    ]


def _containers(tree: Any) -> list[tuple[Any, Any]]:
    """Every (container, key or index) place in the tree."""
    places: list[tuple[Any, Any]] = []
    stack = [tree]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                places.append((value, key))
                stack.append(item)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                places.append((value, index))
                stack.append(item)
    return places


def _mutate_tree(rng: random.Random, tree: Any, big: int) -> None:
    places = _containers(tree)
    if not places:
        return
    container, key = rng.choice(places)
    action = rng.random()
    if action < 0.35:
        container[key] = rng.choice(_values(rng, big))
    elif action < 0.45:
        del container[key]
    elif action < 0.52 and isinstance(container, list):
        container.insert(rng.randrange(len(container) + 1), json.loads(json.dumps(container[key])))
    elif action < 0.6:
        other_container, other_key = rng.choice(places)
        with contextlib.suppress(KeyError, IndexError):  # one place was inside the other and is gone
            # copies: swapping a value with one inside it would otherwise make the tree contain itself
            mine, theirs = copy.deepcopy(container[key]), copy.deepcopy(other_container[other_key])
            container[key], other_container[other_key] = theirs, mine
    else:
        container[key] = _tweak(rng, container[key], big)


def _tweak(rng: random.Random, value: Any, big: int) -> Any:
    """A value of the same kind, a little different: what a hand edit or a merge conflict leaves."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return rng.choice([value + 1, value - 1, -value, value * 1000, value * 10**20, 0])
    if isinstance(value, float):
        return rng.choice([value * 1.5, -value, value * 1e300, value + 1e-9, 0.0])
    if isinstance(value, str):
        return rng.choice([value + "1", value.upper(), value[:-1], value + "_" + value, "", value + ":x",
                           value * (big // max(1, len(value)))])
    if isinstance(value, list):
        if value and rng.random() < 0.5:
            return value[:-1]
        return [*value, json.loads(json.dumps(value[0])) if value else 1]
    if isinstance(value, dict):
        return {**value, rng.choice(["extra", "name", "id", "params", "x"]): rng.choice(_values(rng, big))}
    return rng.choice(_values(rng, big))


def _grow(rng: random.Random, tree: Any) -> None:
    """Make a network large: its nodes repeated (duplicate ids), or its names dropped, or both."""
    for network in tree.get("networks", []):
        nodes = network.get("nodes", [])
        if rng.random() < 0.5:
            for node in nodes:
                node.pop("name", None)
        if rng.random() < 0.5:
            network["nodes"] = [copy.deepcopy(node) for node in nodes * rng.randint(2, 300)]
        if rng.random() < 0.3:
            network["wires"] = [copy.deepcopy(w) for w in network.get("wires", []) * rng.randint(2, 50)]


def _write(tree: Any, rng: random.Random) -> bytes:
    text = json.dumps(tree, ensure_ascii=rng.random() < 0.5, indent=rng.choice([None, 2]))
    for token, raw in _RAW.items():
        text = text.replace(f'"{token}"', raw)
    if rng.random() < 0.1:  # a duplicated key: JSON allows it, the last one wins
        marker = rng.choice(['"params": ', '"name": ', '"id": ', '"nodes": ', '"format_version": '])
        at = text.find(marker)
        if at >= 0:
            text = text[:at] + marker + rng.choice(['"dup"', "3", "[]", "{}", "null"]) + ", " + text[at:]
    return text.encode("utf-8", "surrogatepass")


def _mutate_bytes(rng: random.Random, data: bytearray) -> None:
    action = rng.random()
    if action < 0.3:
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    elif action < 0.5:
        del data[rng.randrange(1, len(data)):]
    elif action < 0.65:
        at = rng.randrange(len(data))
        data[at:at] = rng.choice([b"{", b"}", b"[", b"]", b",", b'"', b":", b"\\", b"\xff", b"\x00", b"1e999",
                                  b"-", b"9" * 400, b"\xef\xbb\xbf"])
    elif action < 0.8:
        start = rng.randrange(len(data))
        del data[start:start + rng.randint(1, 200)]
    else:
        start = rng.randrange(len(data))
        chunk = data[start:start + rng.randint(1, 400)]
        at = rng.randrange(len(data))
        data[at:at] = chunk


def mutated_file(seed: int, index: int, big: int = 4000) -> bytes:
    """The ``index``-th mutated file of run ``seed``. ``big``: the size of long strings and lists."""
    rng = random.Random(f"{seed}:{index}")
    source = TEMPLATES[rng.randrange(len(TEMPLATES))].read_bytes()
    if rng.random() < 0.35:
        data = bytearray(source)
        for _ in range(rng.randint(1, 3)):
            if data:
                _mutate_bytes(rng, data)
        return bytes(data)
    tree = json.loads(source)
    if rng.random() < 0.05:
        _grow(rng, tree)
    for _ in range(rng.choice([1, 1, 1, 2, 3, 5])):
        _mutate_tree(rng, tree, big)
    data = _write(tree, rng)
    if rng.random() < 0.1:
        scratch = bytearray(data)
        _mutate_bytes(rng, scratch)
        data = bytes(scratch)
    return data


def check(data: bytes) -> tuple[str, str]:
    """Load ``data`` as the app does and sort the outcome: ("load_error", message), ("loaded", ""), or a finding:
    ("leak", exception type and message: only LoadError may escape a load) or ("unsaveable", why)."""
    from netbuilder.analysis import analyze
    from netbuilder.io import LoadError, document_from_dict, dumps_document, parse_bytes

    try:
        doc = document_from_dict(parse_bytes(data, "fuzz.nbg"), "fuzz.nbg")
    except LoadError as error:
        message = str(error)
        if len(message) > 5_000:
            return "leak", f"LoadError too long: {len(message):,} characters"
        return "load_error", message
    except BaseException as error:  # noqa: BLE001 (sorting every escape is the point)
        if isinstance(error, KeyboardInterrupt):
            raise
        return "leak", f"{type(error).__name__}: {str(error)[:300]}"
    try:
        for network in doc:
            analyze(network)
    except Exception as error:  # noqa: BLE001
        return "leak", f"analysis: {type(error).__name__}: {str(error)[:300]}"
    try:
        text = dumps_document(doc)
    except Exception as error:  # noqa: BLE001
        return "unsaveable", f"save: {type(error).__name__}: {str(error)[:300]}"
    try:
        again = dumps_document(document_from_dict(parse_bytes(text.encode("utf-8")), "saved.nbg"))
    except Exception as error:  # noqa: BLE001
        return "unsaveable", f"reload: {type(error).__name__}: {str(error)[:300]}"
    if again != text:
        return "unsaveable", "the saved file loads back different"
    return "loaded", ""
