"""The reference page ``docs/settings.md``, rendered from `netbuilder.train.schema` (a test keeps it current)."""

from __future__ import annotations

import json

from netbuilder.train.schema import LOSS_FIELDS, PRETRAIN_FIELDS, Setting, section_settings


def markdown() -> str:
    """``docs/settings.md``: every setting, its flag, type, default and what it does."""
    lines = ["# Training and data settings", "",
             "Generated from `netbuilder/train/schema.py` by `netbuilder settings --markdown > docs/settings.md`; "
             "a test keeps it current.", "",
             "A document keeps them in `settings.training` and `settings.data`. `netbuilder train` takes each as a "
             "flag, and any of them as `--set section.key=VALUE` (e.g. `--set training.lr=0.01`). Lists are "
             "written with commas (`--metrics f1,top3`), mappings as JSON (`--data-options '{\"target\": \"y\"}'`), "
             "and `none` empties a setting that may be empty.", ""]

    def table(entries: tuple[Setting, ...], prefix: str, flags: bool) -> None:
        head = "| key | flag | allowed | default | what it does |" if flags else \
            "| key | allowed | default | what it does |"
        lines.extend([head, "|---|---|---|---|---|" if flags else "|---|---|---|---|"])
        for entry in entries:
            value = "(empty)" if entry.default in (None, "", [], {}) else json.dumps(entry.default)
            doc = entry.doc.replace("|", "\\|")
            cells = [f"`{prefix}{entry.key}`", *([f"`{entry.cli_flag}`"] if flags else []), entry.allowed(),
                     f"`{value}`" if value != "(empty)" else value, doc]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")

    for section, title in (("training", "## settings.training"), ("data", "## settings.data")):
        lines.extend([title, ""])
        table(section_settings(section), "", True)
    lines.extend(["## Loss records (`settings.training.losses[]`)", ""])
    table(LOSS_FIELDS, "", False)
    lines.extend(["## Pre-training stage (`settings.training.transfer.pretrain`)", ""])
    table(PRETRAIN_FIELDS, "", False)
    return "\n".join(lines).rstrip() + "\n"
