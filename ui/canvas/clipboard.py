"""Copied layers as JSON on the system clipboard, so copy and paste work across tabs and windows.

The payload is plain data (type, name, params, position, options and the wires among the copied nodes) under
the mime type ``application/x-netbuilder-nodes``; pasting validates every layer through its spec, so a clipboard
written by another version cannot put an invalid node into the document.
"""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import QMimeData

from netbuilder.document import DocumentError, Network, Node, Wire
from netbuilder.document.blocks import BLOCK_TYPE
from netbuilder.document.model import check_node_options
from netbuilder.specs import ParamError, UnknownLayerError, get_spec

NODES_MIME = "application/x-netbuilder-nodes"
FORMAT_VERSION = 1


def nodes_to_mime(network: Network, node_ids: list[str]) -> QMimeData:
    """The selected nodes and the wires between them, as clipboard data."""
    chosen = set(node_ids)
    nodes = [network.node(i) for i in node_ids]
    record = {
        "format": "netbuilder-nodes",
        "version": FORMAT_VERSION,
        "nodes": [{"id": n.id, "type": n.type, "name": n.name, "params": _plain(n.params),
                   "position": list(n.position), "options": n.options(),
                   # a block node names its definition; a layer inside an open block, its bound parameters
                   **({"block": n.block} if n.block else {}),
                   **({"bindings": dict(n.bindings)} if n.bindings else {})} for n in nodes],
        "wires": [list(w.key) for w in network.wires if w.src in chosen and w.dst in chosen],
    }
    mime = QMimeData()
    mime.setData(NODES_MIME, json.dumps(record).encode("utf-8"))
    return mime


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def nodes_from_mime(mime: QMimeData | None) -> tuple[list[Node], list[Wire]] | None:
    """The nodes and wires on the clipboard, or None when it holds no layers. Raises DocumentError (with a message
    for the user) when the data is there but unusable."""
    if mime is None or not mime.hasFormat(NODES_MIME):
        return None
    try:
        record = json.loads(bytes(mime.data(NODES_MIME).data()).decode("utf-8"))
        if record.get("format") != "netbuilder-nodes":
            raise ValueError("not a layer list")
        if int(record.get("version", 0)) > FORMAT_VERSION:
            raise DocumentError("The clipboard holds layers from a newer NetBuilder; update to paste them.")
        nodes = []
        for item in record["nodes"]:
            x, y = item.get("position", (0.0, 0.0))
            extra = {"block": str(item.get("block", "")),
                     "bindings": {str(k): str(v) for k, v in dict(item.get("bindings", {})).items()}}
            if item["type"] == BLOCK_TYPE:  # its parameters are its definition's, checked where it is pasted
                if not extra["block"]:
                    raise ValueError("a block node without its block")
                type_id, params = BLOCK_TYPE, dict(item.get("params", {}))
            else:
                spec = get_spec(str(item["type"]))
                type_id, params = spec.id, spec.coerce_params(dict(item.get("params", {})))
            nodes.append(Node(str(item["id"]), type_id, str(item["name"]), params, (float(x), float(y)),
                              **check_node_options(dict(item.get("options", {}))), **extra))
        wires = [Wire(str(s), str(sp), str(d), str(dp)) for s, sp, d, dp in record.get("wires", [])]
    except UnknownLayerError as error:
        raise DocumentError(f"Cannot paste: {error} It may come from a newer NetBuilder.") from None
    except ParamError as error:
        raise DocumentError(f"Cannot paste: {error}") from None
    except DocumentError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError):
        raise DocumentError("The clipboard's layer data is damaged; copy the layers again.") from None
    return nodes, wires
