"""PyTorch code export: one standalone, readable ``.py`` file that needs only torch.

The file holds the imports, the source of every custom module class the network uses (and the helpers those
classes call), and a ``class <Network>(nn.Module)`` whose ``__init__`` rebuilds each layer with the constructor
call its spec recorded (``module._nb_ctor``, see `netbuilder.specs.base.make`) and whose ``forward`` is the code
torch.fx generated for the compiled network. The state_dict keys are the same as the compiled module's, so
weights trained in NetBuilder load with ``load_state_dict`` (strict).
"""

from __future__ import annotations

import ast
import inspect
import math
import os
import re
import textwrap
import types
from collections.abc import Callable
from typing import Any

import torch
import torch.nn as nn

from netbuilder import __version__
from netbuilder.compile import CompiledInfo, sequence_limit, vocab_size
from netbuilder.document.model import Network
from netbuilder.export.base import ExportError, resolve
from netbuilder.io.atomic import SaveError, write_atomic

_FREE = re.compile(r";\s*(?:[A-Za-z_]\w*\s*=\s*)+None\s*$")  # fx frees values early: "x = None"


def export_pytorch_code(network_or_module: Network | nn.Module, path: str | os.PathLike[str] | None = None,
                        preprocessing: Any = None, units: str = "",
                        step: Callable[[str], None] | None = None) -> str:
    """Return (and write to ``path``, if given) the network as a standalone PyTorch module file.

    ``preprocessing`` (a `netbuilder.export.preprocessing.BakePlan`) adds a ``<Name>WithPreprocessing`` module
    with the run's fitted preprocessing baked in as constants, and the example uses it; ``units`` says what it is
    fed. Raises `ExportError` when the network has problems, a layer's module did not record its constructor, or
    the file cannot be written. ``step(text)``, when given, is called as each stage starts (progress display) and
    may raise to stop there; the file is written last.
    """
    if step is not None:
        step("Compiling the network…")
    module, info = resolve(network_or_module)
    writer = _Writer()
    from netbuilder.export.pytorch_blocks import BlockClasses, is_block

    blocks = BlockClasses(writer, module)  # one class per block definition, before the network's class
    init_lines = []
    tie_lines = []
    for name, child in module.named_children():
        if is_block(child):
            init_lines.append(f"self.{name} = {blocks.call(child, name)}")
            init_lines.extend(_frozen_lines(name, child))
            continue
        ctor = getattr(child, "_nb_ctor", None)
        if ctor is None:
            raise ExportError(f"Layer {name} ({type(child).__name__}) cannot be written as PyTorch code: its module "
                              "does not record how it was built.")
        cls, args, kwargs = ctor
        call = writer.reference(cls)
        arguments = [writer.literal(a, name) for a in args]
        arguments += [f"{key}={writer.literal(value, name)}" for key, value in kwargs.items()]
        init_lines.extend(_wrap_call(f"self.{name} = {call}(", arguments, width=110 - 8))
        init_lines.extend(_frozen_lines(name, child))
        tie_lines += [f"self.{name}.{attr} = self.{shared}  # tied in NetBuilder: one shared weight"
                      for attr, shared in getattr(child, "_nb_tied", {}).items()]
    init_lines += tie_lines  # after every layer exists, whichever order they were built in
    forward = _forward_source(module, writer)
    class_name = _free_name(type(module).__name__, writer.taken)
    code = _assemble(writer, class_name, init_lines, forward, info, vocab_size(module),
                     min(8, sequence_limit(module) or 8))
    if preprocessing is not None and not preprocessing.empty:
        from netbuilder.export.preprocessing import code_wrapper

        wrapper, wrapped = code_wrapper(class_name, preprocessing, units, info.single_output)
        head, main = code.split('if __name__ == "__main__":', 1)
        main = main.replace(f"model = {class_name}().eval()", f"model = {wrapped}().eval()", 1)
        code = head + wrapper + '\n\n\nif __name__ == "__main__":' + main
    try:
        compile(code, f"{class_name}.py", "exec")
    except SyntaxError as error:  # a bug in this exporter, not in the user's network; say so plainly
        raise ExportError(f"The generated code is not valid Python ({error.msg}, line {error.lineno}).") from None
    if path is not None:
        if step is not None:
            step("Writing the file…")
        try:
            write_atomic(path, code.encode("utf-8"), what="PyTorch file")
        except SaveError as error:
            raise ExportError(str(error)) from None
    return code


def _wrap_call(head: str, arguments: list[str], width: int) -> list[str]:
    """``head`` + arguments + ")", packed into lines of at most ``width``, continuations aligned after the "("."""
    lines = [head]
    indent = " " * len(head)
    for index, argument in enumerate(arguments):
        piece = argument + (", " if index < len(arguments) - 1 else ")")
        if len(lines[-1]) + len(piece.rstrip()) > width and lines[-1].strip() != head.strip():
            lines[-1] = lines[-1].rstrip()
            lines.append(indent)
        lines[-1] += piece
    if not arguments:
        lines[-1] += ")"
    return lines


def _frozen_lines(name: str, child: nn.Module) -> list[str]:
    """Keep layers frozen in NetBuilder frozen in the generated model."""
    params = list(child.named_parameters())
    frozen = [p for p, value in params if not value.requires_grad]
    if not frozen:
        return []
    if len(frozen) == len(params):
        return [f"self.{name}.requires_grad_(False)  # frozen in NetBuilder"]
    return [f"self.{name}.{p}.requires_grad_(False)  # frozen in NetBuilder" for p in frozen]


def _forward_source(module: nn.Module, writer: _Writer) -> str:
    """fx's generated forward, without its early frees and comments, with its global names imported."""
    lines = []
    for line in str(module.code).strip("\n").splitlines():
        if line.strip().startswith("#"):
            continue
        lines.append(_FREE.sub("", line).rstrip())
    source = textwrap.dedent("\n".join(lines).strip("\n"))
    fx_globals = getattr(type(module).forward, "__globals__", {})
    for name in _global_names(ast.parse(source)):
        value = fx_globals.get(name)
        if isinstance(value, types.ModuleType):
            writer.import_module(name, value)
    return source


class _Writer:
    """Collects what the file needs: imports, and the source of custom classes and their helpers."""

    def __init__(self) -> None:
        self.imports: dict[str, str] = {"torch": "import torch", "nn": "import torch.nn as nn"}
        self.definitions: list[str] = []  # sources, dependencies first
        self.done: set[Any] = set()
        self.taken: set[str] = {"torch", "nn"}

    def reference(self, cls: type) -> str:
        """How the file names a class: ``nn.Linear``, an import, or a class whose source is included."""
        if getattr(nn, cls.__name__, None) is cls:
            return f"nn.{cls.__name__}"
        if cls.__module__.split(".")[0] == "netbuilder" or not _importable(cls):
            self.include(cls)
            return cls.__name__
        self.imports[cls.__name__] = f"from {cls.__module__} import {cls.__name__}"
        self.taken.add(cls.__name__)
        return cls.__name__

    def include(self, obj: Any) -> None:
        """Add the source of a class or function, after whatever module-level names it uses."""
        if obj in self.done:
            return
        self.done.add(obj)
        try:
            source = textwrap.dedent(inspect.getsource(obj))
        except (OSError, TypeError):
            raise ExportError(f"The source of {obj.__qualname__} is not available, so it cannot be written into "
                              "the exported file.") from None
        scope = vars(inspect.getmodule(obj)) if inspect.getmodule(obj) else {}
        for name in _global_names(ast.parse(source)):
            if name == obj.__name__ or name not in scope:
                continue
            self.dependency(name, scope[name])
        self.definitions.append(source.rstrip())
        self.taken.add(obj.__name__)

    def dependency(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType):
            self.import_module(name, value)
        elif inspect.isclass(value) or inspect.isfunction(value):
            if value.__module__.split(".")[0] == "netbuilder" or not _importable(value):
                self.include(value)
            elif name not in self.imports:
                self.imports[name] = (f"from {value.__module__} import {value.__name__}" if name == value.__name__
                                      else f"from {value.__module__} import {value.__name__} as {name}")
                self.taken.add(name)
        elif _is_plain(value) and value not in self.done:
            self.definitions.append(f"{name} = {self.literal(value, name)}")
            self.taken.add(name)

    def import_module(self, name: str, module: types.ModuleType) -> None:
        if name in self.imports:
            return
        full = module.__name__
        if full.split(".")[0] == "netbuilder":
            raise ExportError(f"The exported code would need NetBuilder's module {full}; it must need only torch.")
        self.imports[name] = f"import {full}" if full == name else f"import {full} as {name}"
        self.taken.add(name)

    def literal(self, value: Any, where: str) -> str:
        """Python source for a constructor argument."""
        if value is None or isinstance(value, bool | int | str):
            return repr(value)
        if isinstance(value, float):
            return repr(value) if math.isfinite(value) else f'float("{value}")'
        if isinstance(value, tuple):
            items = [self.literal(v, where) for v in value]
            return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"
        if isinstance(value, list):
            return "[" + ", ".join(self.literal(v, where) for v in value) + "]"
        if isinstance(value, dict):
            return "{" + ", ".join(f"{self.literal(k, where)}: {self.literal(v, where)}"
                                   for k, v in value.items()) + "}"
        if isinstance(value, torch.dtype):
            return str(value)
        if isinstance(value, torch.device):
            return f"torch.device({str(value)!r})"
        raise ExportError(f"Layer {where}: a constructor argument of type {type(value).__name__} cannot be written "
                          "as Python code.")


def _is_plain(value: Any) -> bool:
    if value is None or isinstance(value, bool | int | float | str):
        return True
    return isinstance(value, tuple | list) and all(_is_plain(v) for v in value)


def _importable(obj: Any) -> bool:
    """A class or function that a fresh Python with torch installed can import by its module and name."""
    module = getattr(obj, "__module__", "") or ""
    return module.split(".")[0] in ("torch", "math", "operator", "typing", "collections", "functools") \
        and "<locals>" not in getattr(obj, "__qualname__", "")


class _Annotations(ast.NodeTransformer):
    """Drop annotations: the file uses ``from __future__ import annotations``, so they are never evaluated."""

    def visit_arg(self, node: ast.arg) -> ast.arg:
        node.annotation = None
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.FunctionDef:
        node.returns = None
        self.generic_visit(node)
        return node

    def visit_AnnAssign(self, node: ast.AnnAssign) -> Any:
        node.annotation = ast.Constant(None)
        self.generic_visit(node)
        return node


def _global_names(tree: ast.AST) -> list[str]:
    """Names a piece of code reads that it does not bind itself (in first-use order)."""
    tree = _Annotations().visit(tree)
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            bound.add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.FunctionDef | ast.ClassDef):
            bound.add(node.name)
        elif isinstance(node, ast.alias):
            bound.add((node.asname or node.name).split(".")[0])
    names: dict[str, None] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in bound:
            names[node.id] = None
    return list(names)


def _free_name(name: str, taken: set[str]) -> str:
    name = name if name.isidentifier() else "Network"
    while name in taken:
        name += "Network"
    return name


def _assemble(writer: _Writer, class_name: str, init_lines: list[str], forward: str, info: CompiledInfo,
              vocab: int, seq_len: int) -> str:
    signature = ", ".join(f"{n} ({t})" for n, t in zip(info.input_names, info.input_types, strict=True))
    results = ", ".join(f"{n} ({t})" for n, t in zip(info.output_names, info.output_types, strict=True))
    header = textwrap.dedent(f'''\
        """{class_name}: PyTorch code generated by NetBuilder {__version__} from the network {info.network!r}.

        It needs only PyTorch. Inputs: {signature}. Outputs: {results}.
        N is the batch size and T a sequence length of your choice.

        Weights saved by NetBuilder (safetensors) load with:
            from safetensors.torch import load_file
            model.load_state_dict(load_file("weights.safetensors"))
        """
        ''')
    imports = ["from __future__ import annotations", ""]
    plain = sorted(v for v in writer.imports.values() if v.startswith("import "))
    imports += plain + sorted(v for v in writer.imports.values() if v.startswith("from "))
    body = [f"class {class_name}(nn.Module):",
            f'    """The network {info.network!r}: one submodule per layer, named after its node."""',
            "",
            "    def __init__(self) -> None:",
            "        super().__init__()"]
    body += [f"        {line}" for line in init_lines]
    body += [""] + [f"    {line}" if line else "" for line in forward.splitlines()]
    parts = [header + "\n".join(imports)]
    parts += writer.definitions
    parts.append("\n".join(body))
    parts.append(_example(class_name, info, vocab, seq_len))
    return "\n\n\n".join(parts) + "\n"


def _example(class_name: str, info: CompiledInfo, vocab: int, seq_len: int) -> str:
    """A runnable ``__main__`` block. Inputs go in a tuple, never in variables named after the Input nodes: a
    node called ``torch`` or ``model`` would otherwise shadow the names the block itself uses."""
    lines = ['if __name__ == "__main__":', f"    model = {class_name}().eval()", "    example = ("]
    for name, tensor_type in zip(info.input_names, info.input_types, strict=True):
        shape = tuple(2 if d == "N" else seq_len if isinstance(d, str) else d for d in tensor_type.shape)
        if tensor_type.dtype == "int64":
            lines.append(f"        torch.randint(0, {vocab}, {shape!r}),  # {name}: token ids below {vocab}")
        else:
            lines.append(f"        torch.randn{shape!r},  # {name}")
    lines.append("    )")
    lines.append("    with torch.no_grad():")
    lines.append("        outputs = model(*example)")
    if info.single_output:
        lines.append(f"    print({info.output_names[0] + ':'!r}, tuple(outputs.shape))")
    else:
        lines.append(f"    for name, value in zip({tuple(info.output_names)!r}, outputs):")
        lines.append('        print(f"{name}:", tuple(value.shape))')
    return "\n".join(lines)
