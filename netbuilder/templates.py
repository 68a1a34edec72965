"""Example networks shipped as .nbg files in resources/templates, each sized for a bundled data set so that it
trains without edits. ``resources/templates/build_templates.py`` regenerates them from code."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from netbuilder.document import Document
from netbuilder.resources import resource_dir

# Gallery order: from the first network people learn to the most involved.
TEMPLATE_ORDER = (
    "mlp", "lenet", "resnet-small", "lstm-classifier", "char-gru", "transformer-classifier", "gpt-mini",
    "autoencoder", "vae", "dcgan", "transfer-digits", "resnet18",
)

# Templates that are an architecture without bundled data: the gallery says so instead of naming a data set.
NOTES = {"resnet18": "architecture: bring your own images"}


class TemplateError(ValueError):
    pass


@dataclass(frozen=True)
class TemplateInfo:
    id: str
    title: str
    description: str
    path: Path
    data: str = ""  # the bundled data set it is sized for
    note: str = ""  # e.g. "architecture: bring your own images" (see NOTES)


def templates_dir() -> Path:
    return resource_dir("templates")


def list_templates() -> list[TemplateInfo]:
    """Every template, in gallery order; reads only each file's header, so it is cheap."""
    found = []
    for path in templates_dir().glob("*.nbg"):
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(raw, dict) or not isinstance(raw.get("info", {}), dict) \
                or not isinstance(raw.get("settings", {}), dict):
            continue  # not a document; opening it would say why
        info = raw.get("info", {})
        data = raw["settings"].get("data", {}) if "settings" in raw else {}
        found.append(TemplateInfo(path.stem, info.get("title", path.stem), info.get("description", ""), path,
                                  data.get("source", "") if isinstance(data, dict) else str(data),
                                  NOTES.get(path.stem, "")))
    rank = {t: i for i, t in enumerate(TEMPLATE_ORDER)}
    return sorted(found, key=lambda t: (rank.get(t.id, len(rank)), t.id))


def template_path(template_id: str) -> Path:
    path = templates_dir() / f"{template_id}.nbg"
    if not path.is_file():
        ids = ", ".join(t.id for t in list_templates())
        raise TemplateError(f"There is no template {template_id!r}. Templates: {ids}.")
    return path


def load_template(template_id: str) -> Document:
    """A new, unsaved document from a template (its undo history empty)."""
    from netbuilder.io import load_document

    doc = load_document(template_path(template_id))
    doc.undo_stack.clear()
    return doc
