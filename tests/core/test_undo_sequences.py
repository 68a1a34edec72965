"""Undo/redo is exact for every command, over thousands of random steps, without Qt.

Each example is a seeded sequence of edits, undos and redos. After every step the document must save (nothing
unsavable, no internal marker, ever reaches it) and a refused edit must leave the saved text unchanged; every few
dozen steps the saved text must load back to the same text. At the end, undoing everything gives back the starting
file byte for byte and redoing everything the final one.

``NETBUILDER_UNDO_PROFILE=heavy`` runs many more and longer sequences than the CI default.
"""

from __future__ import annotations

import json
import os
import random

import pytest
from edit_sequences import EditGenerator, command_classes, start_document
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from netbuilder.document import AddNetwork, Document, DocumentError, SetSetting
from netbuilder.io import document_from_dict, dumps_document
from netbuilder.specs import ParamError

HEAVY = os.environ.get("NETBUILDER_UNDO_PROFILE", "") == "heavy"
EXAMPLES, STEPS = (40, 5000) if HEAVY else (3, 1500)
RELOAD_EVERY = 50


def saved(doc: Document) -> str:
    return dumps_document(doc)


def reloads_equal(doc: Document, text: str) -> None:
    again = document_from_dict(json.loads(text), "reload")
    assert dumps_document(again) == text


def run_sequence(seed: int, steps: int, execute=None, undo=None, redo=None, can_undo=None,
                 can_redo=None, doc: Document | None = None) -> dict[str, int]:
    """Run one seeded sequence on ``doc`` (through its own undo stack unless the callables say otherwise) and
    check every property; returns how many edits of each command class were applied."""
    doc = doc or start_document()
    execute = execute or doc.execute
    undo = undo or doc.undo_stack.undo
    redo = redo or doc.undo_stack.redo
    can_undo = can_undo or doc.undo_stack.can_undo
    can_redo = can_redo or doc.undo_stack.can_redo
    rng = random.Random(seed)
    generator = EditGenerator(rng)
    start = saved(doc)
    applied: dict[str, int] = {}
    text = start
    for step in range(steps):
        roll = rng.random()
        if roll < 0.08:
            undo()
        elif roll < 0.12:
            redo()
        else:
            try:
                command = generator.command(doc)
                execute(command)
                applied[type(command).__name__] = applied.get(type(command).__name__, 0) + 1
            except (DocumentError, ParamError):
                assert saved(doc) == text, f"seed {seed}, step {step}: a refused edit changed the document"
                continue
        text = saved(doc)  # raises if anything unsavable got in
        if step % RELOAD_EVERY == 0:
            reloads_equal(doc, text)
    while can_redo():
        redo()
    final = saved(doc)
    reloads_equal(doc, final)
    while can_undo():
        undo()
        saved(doc)
    assert saved(doc) == start, f"seed {seed}: undoing everything did not give back the starting document"
    while can_redo():
        redo()
    assert saved(doc) == final, f"seed {seed}: redoing everything did not give back the final document"
    return applied


def test_the_generator_covers_every_command_class() -> None:
    generator = EditGenerator(random.Random(0))
    assert set(generator.builders) == command_classes()
    assert len(command_classes()) >= 14


@settings(max_examples=EXAMPLES, deadline=None, derandomize=not HEAVY, phases=[Phase.generate],
          suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1))
def test_thousands_of_random_edits_undo_and_redo_exactly(seed: int) -> None:
    applied = run_sequence(seed, STEPS)
    # every command class was really applied (not only refused) somewhere in the sequence
    assert {cls.__name__ for cls in command_classes()} <= set(applied), applied


def test_undo_of_a_new_setting_removes_the_key_and_the_file_saves() -> None:
    doc = start_document()
    before = saved(doc)
    doc.set_setting("data", {"source": "digits"})
    doc.undo_stack.undo()
    assert "data" not in doc.settings
    assert saved(doc) == before
    doc.undo_stack.redo()
    assert doc.settings["data"] == {"source": "digits"}


def test_a_setting_that_cannot_be_saved_is_refused_with_its_name() -> None:
    doc = start_document()
    for bad in (float("nan"), {"lr": float("inf")}, {3: "x"}, object(), [[[]]] * 0 + [set()]):
        try:
            SetSetting("training", bad)
        except DocumentError as error:
            assert "training" in str(error)
        else:
            raise AssertionError(f"{bad!r} was accepted")
    assert saved(doc)


def test_add_network_copies_its_template_when_made_not_when_redone() -> None:
    doc = start_document()
    doc.add_network("extra")  # a network that undo removes and redo makes again (a new object)
    extra = doc.network("extra")
    extra.add("Input", name="x", shape=(4,))
    doc.execute(AddNetwork("copy", extra))
    final = saved(doc)
    while doc.undo_stack.can_undo():
        doc.undo_stack.undo()
    while doc.undo_stack.can_redo():
        doc.undo_stack.redo()
    assert saved(doc) == final
    assert [n.name for n in doc.network("copy").nodes] == ["x"]


def test_a_parameter_too_large_to_write_is_refused_and_the_document_still_saves() -> None:
    doc = start_document()
    net = doc.network("generator")
    before = saved(doc)
    soft = net.add("Softmax", name="soft")  # its axis has no upper bound
    before = saved(doc)
    for edit in (lambda: net.set_param(soft, "axis", 10**5000), lambda: net.add("Softmax", axis=10**5000),
                 lambda: net.add("Reshape", shape=(4, 10**5000)), lambda: net.set_param("h", "units", 10**5000)):
        with pytest.raises(ParamError, match="too large|at most"):
            edit()
    assert saved(doc) == before
    net.set_param(soft, "axis", 10**100)  # large, but a file can hold it
    reloads_equal(doc, saved(doc))
