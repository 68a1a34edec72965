"""PyTorch code export of blocks: one class per block definition, like torchvision's ``BasicBlock``.

Every instance of a definition has the same submodules and the same ``forward``; what differs between instances
(the filters of a stage, the input channels of its first convolution) becomes a constructor argument of the class,
named after the block parameter it equals (``filters``) or else after the layer and argument
(``conv1_in_channels``). Each instance is then written as one call, ``BasicBlock(filters=128, ...)``, so the
exported model has the module tree -- and the state_dict keys -- of the compiled one.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

import torch.nn as nn

from netbuilder.export.base import ExportError

if TYPE_CHECKING:
    from netbuilder.export.pytorch_code import _Writer


def is_block(module: nn.Module) -> bool:
    return getattr(module, "_nb_block", None) is not None


def _attribute(name: str) -> str:
    return f"self.{name}" if name.isidentifier() else f'getattr(self, "{name}")'


def _assign(name: str, callee: str, arguments: list[str]) -> list[str]:
    """``self.<name> = callee(...)``; a child named by a number is added with ``add_module`` (nn.Sequential's
    way), which gives the same state_dict keys (``layer1.0.conv1.weight``)."""
    from netbuilder.export.pytorch_code import _wrap_call

    if name.isidentifier():
        return _wrap_call(f"self.{name} = {callee}(", arguments, width=110 - 8)
    lines = _wrap_call(f'self.add_module("{name}", {callee}(', arguments, width=110 - 8)
    lines[-1] += ")"
    return lines


class BlockClasses:
    """Writes the class of every block definition a compiled module uses, deepest first, and knows each block
    module's constructor arguments."""

    def __init__(self, writer: _Writer, root: nn.Module):
        self.writer = writer
        self.instances: dict[str, list[nn.Module]] = {}
        self.args: dict[int, dict[str, Any]] = {}  # id(block module) -> its constructor arguments
        self.class_names: dict[str, str] = {}
        self._collect(root)
        for name in list(self.instances):
            self._write(name, self.instances[name])

    def _collect(self, module: nn.Module) -> None:
        for _, child in module.named_children():
            if is_block(child):
                self._collect(child)  # children first: a definition's class comes after those it uses
                self.instances.setdefault(child._nb_block[0], []).append(child)

    def call(self, module: nn.Module, where: str) -> str:
        """The constructor call of a block module: ``BasicBlock(filters=128)``."""
        name = self.class_names[module._nb_block[0]]
        args = self.args[id(module)]
        return f"{name}(" + ", ".join(f"{k}={self.writer.literal(v, where)}" for k, v in args.items()) + ")"

    def _child_args(self, child: nn.Module, where: str) -> tuple[str, list[tuple[str | None, str, Any]]]:
        """(callee, [(keyword or None for positional, argument name, value)]) of one child's constructor."""
        if is_block(child):
            return self.class_names[child._nb_block[0]], [(k, k, v) for k, v in self.args[id(child)].items()]
        ctor = getattr(child, "_nb_ctor", None)
        if ctor is None:
            raise ExportError(f"Layer {where} ({type(child).__name__}) cannot be written as PyTorch code: its module "
                              "does not record how it was built.")
        cls, args, kwargs = ctor
        try:
            names = list(inspect.signature(cls).parameters)
        except (TypeError, ValueError):
            names = []
        positional = [(None, names[i] if i < len(names) else f"arg{i}", value) for i, value in enumerate(args)]
        return self.writer.reference(cls), positional + [(k, k, v) for k, v in kwargs.items()]

    def _write(self, definition: str, modules: list[nn.Module]) -> None:
        from netbuilder.export.pytorch_code import _forward_source, _free_name, _frozen_lines

        writer = self.writer
        class_name = _free_name(definition, writer.taken)
        writer.taken.add(class_name)
        self.class_names[definition] = class_name
        first = modules[0]
        values = [getattr(m, "_nb_block", (definition, {}))[1] for m in modules]
        params: dict[str, list[Any]] = {}  # class argument -> value per instance
        init: list[str] = []
        for child_name, child in first.named_children():
            where = f"{definition}.{child_name}"
            callee, args = self._child_args(child, where)
            others = [self._child_args(getattr(m, child_name) if child_name.isidentifier() else
                                       m.get_submodule(child_name), where)[1] for m in modules[1:]]
            rendered = []
            for index, (keyword, arg_name, value) in enumerate(args):
                per_instance = [value] + [o[index][2] if index < len(o) else value for o in others]
                if all(v == value and type(v) is type(value) for v in per_instance):
                    text = writer.literal(value, where)
                else:
                    text = self._parameter(params, values, per_instance, child_name, arg_name)
                rendered.append(text if keyword is None else f"{keyword}={text}")
            init.extend(_assign(child_name, callee, rendered))
            frozen = _frozen_lines(child_name, child)
            if not child_name.isidentifier():
                frozen = [line.replace(f"self.{child_name}.", f'{_attribute(child_name)}.', 1) for line in frozen]
            init.extend(frozen)
        for index, module in enumerate(modules):
            self.args[id(module)] = {name: per[index] for name, per in params.items()}
        signature = ", ".join(f"{name}={writer.literal(per[0], definition)}" for name, per in params.items())
        lines = [f"class {class_name}(nn.Module):",
                 f'    """The block {definition!r}: one submodule per layer, named after its node."""',
                 "",
                 f"    def __init__(self{', ' + signature if signature else ''}) -> None:",
                 "        super().__init__()"]
        lines += [f"        {line}" for line in init]
        lines += [""] + [f"    {line}" if line else "" for line in _forward_source(first, writer).splitlines()]
        writer.definitions.append("\n".join(lines))

    @staticmethod
    def _parameter(params: dict[str, list[Any]], values: list[dict[str, Any]], per_instance: list[Any],
                   child: str, arg: str) -> str:
        """The class argument that carries a value differing between instances: a block parameter it always
        equals, or ``<layer>_<argument>``."""
        for name in values[0]:
            if all(name in v and v[name] == p and type(v[name]) is type(p) for v, p in zip(values, per_instance,
                                                                                         strict=True)):
                params.setdefault(name, per_instance)
                if params[name] == per_instance:
                    return name
        for name, existing in params.items():  # the same values already have a name: one argument, not two
            if existing == per_instance and all(type(a) is type(b) for a, b in zip(existing, per_instance,
                                                                                     strict=True)):
                return name
        stem = child if child.isidentifier() else f"block{child}"
        name = f"{stem}_{arg}"
        while name in params and params[name] != per_instance:
            name += "_"
        params[name] = per_instance
        return name
