"""Baking a run's preprocessing into an exported network, so the exported model takes data as users have it.

A trained network expects inputs scaled the way its training data was (``preprocessing.json`` in the run folder)
and gives regression, reconstruction and generated outputs in scaled units. Baked in, the exported graph starts
with ``(x - shift) / scale`` and ends with the inverse for those outputs: feed it pixel values in [0, 1] or table
values as in the file, and read its outputs in the data's units. Not baked, the graph is the bare network and the
caller applies ``preprocessing.json`` itself. Either way the export says which.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from netbuilder.compile import CompiledInfo
from netbuilder.data.preprocess import Affine, Preprocessing
from netbuilder.export.base import ExportError
from netbuilder.specs import roles

INVERT_INPUTS = roles.roles_where(inverts="inputs")  # outputs in the input's space


@dataclass
class BakePlan:
    """What baking does to one network: transform its (first) input, and which outputs to turn back."""

    inputs: Affine | None
    outputs: list[tuple[int, Affine]]  # (output index, the transform whose inverse applies)

    @property
    def empty(self) -> bool:
        return self.inputs is None and not self.outputs


def plan(info: CompiledInfo, preprocessing: Preprocessing | None, generator: bool = False) -> BakePlan:
    """The baking plan for a compiled network. ``generator``: a GAN's generator, whose input is a latent code
    (left as it is) and whose output is data."""
    if preprocessing is None:
        return BakePlan(None, [])
    inputs = None
    if not generator and preprocessing.inputs is not None and info.input_types and \
            info.input_types[0].dtype != "int64":
        inputs = preprocessing.inputs
    outputs: list[tuple[int, Affine]] = []
    for index, role in enumerate(info.output_roles):
        out_features = len(info.output_types[index].features)
        if role in roles.roles_where(inverts="targets") and preprocessing.targets is not None:
            chosen = preprocessing.targets
        elif role in INVERT_INPUTS and preprocessing.inputs is not None:
            chosen = preprocessing.inputs
        else:
            continue
        if chosen.shift.numel() == 1 or chosen.shift.dim() <= out_features:
            outputs.append((index, chosen))
    return BakePlan(inputs, outputs)


class Preprocessed(nn.Module):
    """A compiled network with its preprocessing around it (constants, not weights: they stay out of the
    state dict, so the run's weight files still load into ``network``)."""

    def __init__(self, network: nn.Module, bake: BakePlan):
        super().__init__()
        self.network = network
        self.netbuilder: CompiledInfo = network.netbuilder  # type: ignore[assignment]
        self.transform_input = bake.inputs is not None
        if bake.inputs is not None:
            self.register_buffer("input_shift", bake.inputs.shift.clone(), persistent=False)
            self.register_buffer("input_scale", bake.inputs.scale.clone(), persistent=False)
        self.inverted = [index for index, _ in bake.outputs]
        for index, affine in bake.outputs:
            single = affine.shift.numel() == 1  # one value (e.g. one grey channel) fits any output shape
            shift = affine.shift.reshape(()) if single else affine.shift
            scale = affine.scale.reshape(()) if single else affine.scale
            self.register_buffer(f"output{index}_shift", shift.clone(), persistent=False)
            self.register_buffer(f"output{index}_scale", scale.clone(), persistent=False)
        self.single = self.netbuilder.single_output

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        if self.transform_input:
            first = (inputs[0] - self.input_shift) / self.input_scale
            inputs = (first, *inputs[1:])
        out = self.network(*inputs)
        outs = [out] if self.single else list(out)
        for index in self.inverted:
            shift, scale = getattr(self, f"output{index}_shift"), getattr(self, f"output{index}_scale")
            outs[index] = outs[index] * scale + shift
        return outs[0] if self.single else tuple(outs)


def bake(module: nn.Module, preprocessing: Preprocessing | None, generator: bool = False) -> tuple[nn.Module, str]:
    """``module`` with ``preprocessing`` baked in, and one line saying what was baked."""
    info = getattr(module, "netbuilder", None)
    if not isinstance(info, CompiledInfo):
        raise ExportError("Cannot bake preprocessing into a module NetBuilder did not compile.")
    chosen = plan(info, preprocessing, generator)
    if chosen.empty:
        return module, "Nothing to bake: this network's inputs and outputs are used as they are."
    return Preprocessed(module, chosen), describe(chosen, preprocessing)


def describe(chosen: BakePlan, preprocessing: Preprocessing | None) -> str:
    parts = []
    if chosen.inputs is not None and preprocessing is not None:
        parts.append(f"feed it {preprocessing.units or 'the data as given'}")
    if chosen.outputs:
        parts.append("its regression/reconstruction/generated outputs are in the data's units")
    return "Preprocessing baked in: " + "; ".join(parts) + "."


def not_baked(preprocessing: Preprocessing | None) -> str:
    if preprocessing is None or preprocessing.empty:
        return "The run has no preprocessing: the network takes the data as it is."
    return ("Preprocessing NOT baked in: apply the run's preprocessing.json to inputs (and invert it on outputs) "
            f"yourself; it does: {preprocessing.describe()}.")


def _tensor_literal(value: torch.Tensor) -> str:
    flat = ", ".join(repr(float(v)) for v in value.reshape(-1).tolist())
    shape = tuple(int(d) for d in value.shape)
    return f"torch.tensor([{flat}]).reshape({shape!r})"


def code_wrapper(class_name: str, chosen: BakePlan, units: str, single_output: bool) -> tuple[str, str]:
    """Python source of a ``<class_name>WithPreprocessing`` module around the generated network, and its name."""
    name = f"{class_name}WithPreprocessing"
    lines = [f"class {name}(nn.Module):",
             f'    """{class_name} with the preprocessing NetBuilder fitted on the training data baked in.',
             "",
             f"    Feed it {units or 'the data as given'}; regression, reconstruction and generated outputs come out in",
             "    the data's units. The run's weights load into ``self.network`` (the constants below are not weights).",
             '    """',
             "",
             "    def __init__(self) -> None:",
             "        super().__init__()",
             f"        self.network = {class_name}()"]
    if chosen.inputs is not None:
        lines.append(f'        self.register_buffer("input_shift", {_tensor_literal(chosen.inputs.shift)}, '
                     "persistent=False)")
        lines.append(f'        self.register_buffer("input_scale", {_tensor_literal(chosen.inputs.scale)}, '
                     "persistent=False)")
    for index, affine in chosen.outputs:
        single = affine.shift.numel() == 1
        shift = affine.shift.reshape(()) if single else affine.shift
        scale = affine.scale.reshape(()) if single else affine.scale
        lines.append(f'        self.register_buffer("output{index}_shift", {_tensor_literal(shift)}, persistent=False)')
        lines.append(f'        self.register_buffer("output{index}_scale", {_tensor_literal(scale)}, persistent=False)')
    lines += ["", "    def forward(self, *inputs: torch.Tensor):"]
    if chosen.inputs is not None:
        lines.append("        inputs = ((inputs[0] - self.input_shift) / self.input_scale, *inputs[1:])")
    lines.append("        out = self.network(*inputs)")
    lines.append("        outs = [out]" if single_output else "        outs = list(out)")
    for index, _ in chosen.outputs:
        lines.append(f"        outs[{index}] = outs[{index}] * self.output{index}_scale + self.output{index}_shift")
    lines.append("        return outs[0]" if single_output else "        return tuple(outs)")
    return "\n".join(lines), name
