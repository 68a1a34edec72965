"""The network page, shown when nothing is selected: the network's totals, validation state and its inputs
and outputs with their shapes."""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout

from netbuilder.analysis import Analysis
from netbuilder.document import Network
from netbuilder_ui.icons import category_color
from netbuilder_ui.inspector.page import Page, count_text, repolish


def network_subtitle(net: Network) -> str:
    wires = len(net.wires)
    return (f"Network · {len(net)} layer{'s' if len(net) != 1 else ''} · "
            f"{wires} wire{'s' if wires != 1 else ''}")


class NetworkPage(Page):
    """The whole network: parameters, trainable parameters, multiply-adds, validation, inputs, outputs."""

    def __init__(self, inspector: Any, net: Network):
        super().__init__(inspector)
        self.network_name = net.name

    def build(self, layout: QVBoxLayout) -> None:
        net = self.qt_doc.document.network(self.network_name)
        self.header(layout, net.name, network_subtitle(net), None,
                    ("Parameters", "Trainable", "Multiply-adds", "Validation"))
        info = self.qt_doc.document.info
        if info.title or info.description:
            about = QLabel(f"<b>{html.escape(info.title)}</b><br>{html.escape(info.description)}"
                           if info.title else html.escape(info.description))
            about.setObjectName("specDoc")
            about.setWordWrap(True)
            layout.addWidget(about)
        for section in ("Inputs", "Outputs"):
            form = self.section(layout, section)
            label = QLabel()
            label.setObjectName("ioList")
            label.setWordWrap(True)
            label.setTextFormat(Qt.TextFormat.RichText)
            self.info_labels[section] = label
            form.addRow(label)
        hint = QLabel("Select a layer on the canvas to edit it. Drag layers in from the palette, and wire an "
                      "output port to an input port.")
        hint.setObjectName("hint")
        hint.setWordWrap(True)
        layout.addSpacing(4)
        layout.addWidget(hint)

    def analysis_changed(self) -> None:
        net = self.inspector.network
        if net is not None and self.subtitle is not None:
            self.subtitle.setText(network_subtitle(net))

    def refresh_analysis(self, analysis: Analysis) -> None:
        net = self.inspector.network
        trainable = sum(info.params for node_id, info in analysis.nodes.items()
                        if node_id in net and net.node(node_id).trainable)
        self.set_stat("Parameters", count_text(analysis.total_params))
        self.set_stat("Trainable", count_text(trainable))
        self.set_stat("Multiply-adds", count_text(analysis.total_macs))
        errors, warnings = len(analysis.errors), len(analysis.warnings)
        self.set_stat("Validation", "Valid" if not errors else f"{errors} problem{'s' * (errors != 1)}")
        if not errors and warnings:
            self.stats["Validation"].value.setText(f"Valid, {warnings} warning{'s' * (warnings != 1)}")
        self.stats["Validation"].value.setProperty("state", "error" if errors else "ok")
        repolish(self.stats["Validation"].value)
        self.info_labels["Inputs"].setText(io_list(net, analysis, "Input"))
        self.info_labels["Outputs"].setText(io_list(net, analysis, "Output"))
        self.show_diagnostics([])  # the network's problems are listed in the Problems panel


def io_list(net: Network, analysis: Analysis, kind: str) -> str:
    """The network's Input or Output nodes with their shapes, as rich text."""
    nodes = net.inputs() if kind == "Input" else net.outputs()
    if not nodes:
        return f"<span style='color:#b03a3a'>No {kind} node yet.</span>"
    rows = []
    for node in nodes:
        info = analysis.nodes.get(node.id)
        shape = str(info.output) if info and info.output else "?"
        role = f" <span style='color:#6b7480'>({html.escape(node.params.get('role', ''))})</span>" \
            if kind == "Output" else ""
        swatch = category_color(node.spec.category).name()
        rows.append(f"<span style='color:{swatch}'>●</span> <b>{html.escape(node.name)}</b>{role}"
                    f" &nbsp;<code>{html.escape(shape)}</code>")
    return "<br>".join(rows)
