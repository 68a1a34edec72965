"""Does this data fit this network? Checked before training, in the user's words, with one-click fixes.

`check_compatibility` compares what the data is (`DataInfo`) with what the analysed network expects: the Input
node's shape and dtype, and the Output's role and size (classes, target values, vocabulary). Each problem is a
`Fit` naming the node; when a single parameter change solves it, ``fix`` holds that change as
``{"node": node_id, "params": {...}}`` for the app to apply as an undoable command.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from netbuilder.data.base import REINFORCEMENT, TASKS, DataInfo
from netbuilder.specs.roles import roles_for_task

if TYPE_CHECKING:
    from netbuilder.analysis import Analysis
    from netbuilder.document.model import Network, Node

# Output roles that fit each task (from the role registry); the first is what a fix sets.
ROLES = {task: roles_for_task(task) for task in (*TASKS, REINFORCEMENT) if roles_for_task(task)}
# Layers that keep the shape and the meaning of their input, looked through to find the layer that sets the size.
_PASS_THROUGH_MAX_STEPS = 32


@dataclass(frozen=True)
class Fit:
    """One way the data does not fit the network: what is wrong, where, and how to fix it."""

    message: str
    node_id: str | None = None
    node_name: str | None = None
    suggestion: str = ""
    fix: dict[str, Any] | None = None  # {"node": node_id, "params": {name: value}} when one edit solves it

    def __str__(self) -> str:
        return f"{self.message} {self.suggestion}".strip()


def _dims(shape: tuple[Any, ...]) -> str:
    return "×".join(str(d) for d in shape)


def _matches(expected: tuple[Any, ...], actual: tuple[int, ...]) -> bool:
    """A symbolic size (T, or an expression) accepts any length; fixed sizes must be equal."""
    if len(expected) != len(actual):
        return False
    return all(not isinstance(e, int) or e == a for e, a in zip(expected, actual, strict=True))


def _input_fits(node: Node, info: DataInfo) -> bool:
    return _matches(tuple(node.params["shape"]), info.sample_shape) and node.params["dtype"] == info.dtype


def _check_input(node: Node, info: DataInfo) -> list[Fit]:
    problems = []
    name = node.name
    shape = tuple(node.params["shape"])
    if not _matches(shape, info.sample_shape):
        if len(info.sample_shape) == 1:
            unit = "token ids" if info.dtype == "int64" else "values"
            has = f"each data sample has {info.sample_shape[0]} {unit}"
        else:
            has = f"the data has {_dims(info.sample_shape)} samples"
        new = tuple(info.sample_shape)
        if len(shape) == len(new):  # keep a variable length (T) the Input already has: text stays length-free
            new = tuple(e if not isinstance(e, int) else a for e, a in zip(shape, new, strict=True))
        problems.append(Fit(f"Input '{name}' expects {_dims(shape)} but {has}.", node.id, name,
                            f"Set its shape to {_dims(new)}.", {"node": node.id, "params": {"shape": new}}))
    dtype = node.params["dtype"]
    if dtype != info.dtype:
        if info.dtype == "int64":
            message = f"Input '{name}' expects {dtype} values but the data holds int64 token ids."
            suggestion = "Set its dtype to int64 and feed it into an Embedding."
        else:
            message = f"Input '{name}' expects int64 token ids but the data holds {info.dtype} values."
            suggestion = f"Set its dtype to {info.dtype} (an Embedding after it then has to go)."
        problems.append(Fit(message, node.id, name, suggestion, {"node": node.id, "params": {"dtype": info.dtype}}))
    return problems


def _size_setter(network: Network, analysis: Analysis, output: Node) -> Node | None:
    """The Linear whose units set the Output's last size, looking through shape-keeping layers (activations,
    dropout, normalisation); None if another kind of layer decides it."""
    wires = network.wires_into(output.id)
    if not wires:
        return None
    current = network.node(wires[0].src)
    for _ in range(_PASS_THROUGH_MAX_STEPS):
        if current.type == "Linear":
            return current
        into = network.wires_into(current.id)
        if len(into) != 1:
            return None
        before = analysis.wire_type(into[0].src, into[0].src_port)
        after = analysis.nodes.get(current.id)
        if before is None or after is None or after.output is None or after.output.shape != before.shape:
            return None
        current = network.node(into[0].src)
    return None


def _size_fit(network: Network, analysis: Analysis, output: Node, wanted: int, message: str) -> Fit:
    setter = _size_setter(network, analysis, output)
    if setter is not None:
        return Fit(message, setter.id, setter.name, f"Set the units of '{setter.name}' to {wanted}.",
                   {"node": setter.id, "params": {"units": wanted}})
    return Fit(message, output.id, output.name, f"End the network with a Linear of {wanted} units before "
               f"'{output.name}'.")


def _check_output(network: Network, analysis: Analysis, output: Node, info: DataInfo) -> list[Fit]:
    name = output.name
    node_info = analysis.nodes.get(output.id)
    out = node_info.output if node_info is not None else None
    if out is None:
        return [Fit(f"The size of Output '{name}' is not known yet, so the data cannot be checked against it.",
                    output.id, name, "Fix the problems marked on the canvas first.")]
    shape = tuple(out.shape)
    task = info.task
    if task == "classification":
        classes = info.num_classes or 0
        wanted_text = f"N×{classes}"
        if len(shape) != 2:
            return [Fit(f"Output '{name}' receives {_dims(shape)} but the data has {classes} classes, which needs "
                        f"{wanted_text} class scores.", output.id, name,
                        f"Add a Flatten and a Linear of {classes} units before '{name}'.")]
        if shape[1] != classes:
            return [_size_fit(network, analysis, output, classes,
                              f"Output '{name}' receives {_dims(shape)} but the data has {classes} classes.")]
        return []
    if task in ("regression", "forecasting"):
        values = math.prod(info.target_shape) if info.target_shape else 1
        target = tuple(info.target_shape) or (1,)
        got = shape[1:]
        if _matches(got, target) or (not info.target_shape and got in ((), (1,))):
            return []
        what = f"{values} target value{'s' if values != 1 else ''} per sample"
        message = f"Output '{name}' receives {_dims(shape)} but the data has {what} (N×{_dims(target)})."
        if len(shape) == 2 and len(target) == 1:
            return [_size_fit(network, analysis, output, values, message)]
        return [Fit(message, output.id, name, f"Make the network end in N×{_dims(target)}.")]
    if task == "language_model":
        vocab = info.num_classes or len(info.vocab or [])
        length = info.target_shape[0] if info.target_shape else None
        if len(shape) != 3:
            return [Fit(f"Output '{name}' receives {_dims(shape)} but a language model needs N×T×{vocab}: one "
                        f"score per vocabulary entry at every position.", output.id, name,
                        f"Keep the sequence axis and end with a Linear of {vocab} units.")]
        problems = []
        if isinstance(shape[1], int) and length is not None and shape[1] != length:
            problems.append(Fit(f"Output '{name}' predicts {shape[1]} positions but the data's windows have "
                                f"{length}.", output.id, name, "Keep the sequence length from Input to Output."))
        if shape[2] != vocab:
            problems.append(_size_fit(network, analysis, output, vocab,
                                      f"Output '{name}' receives {_dims(shape)} but the vocabulary has {vocab} "
                                      f"entries."))
        return problems
    reconstruction = task == "unsupervised" and output.params.get("role") == "reconstruction"
    if reconstruction and not _matches(shape[1:], info.sample_shape):
        return [Fit(f"Output '{name}' reconstructs {_dims(shape)} but the data samples are "
                    f"N×{_dims(info.sample_shape)}.", output.id, name,
                    "Make the decoder end in the sample shape (a Reshape can restore it).")]
    return []


def check_compatibility(info: DataInfo, network: Network) -> list[Fit]:
    """Every way ``info``'s data does not fit ``network``; an empty list means it fits."""
    from netbuilder.analysis import analyze

    analysis = analyze(network)
    problems: list[Fit] = []
    inputs = network.inputs()
    if not inputs:
        problems.append(Fit("The network has no Input node.", suggestion=f"Add an Input with shape "
                            f"{_dims(info.sample_shape)}" + (" and dtype int64." if info.dtype == "int64" else ".")))
    else:
        data_input = next((n for n in inputs if _input_fits(n, info)), None)
        if data_input is None:
            problems += _check_input(inputs[0], info)

    outputs = network.outputs()
    if not outputs:
        problems.append(Fit("The network has no Output node.",
                            suggestion="Add an Output after the last layer so training knows what to predict."))
        return problems
    if info.task == REINFORCEMENT:
        found = _check_agent(network, analysis, outputs, info)
        return problems if problems and any(_unknown([fit]) for fit in found) else problems + found
    roles = ROLES.get(info.task)
    if roles is None:  # unsupervised: reconstructions must match the samples; other roles are free
        found = [fit for output in outputs for fit in _check_output(network, analysis, output, info)]
        if problems:
            found = [fit for fit in found if not _unknown([fit])]
        return problems + found
    fitting = [o for o in outputs if o.params.get("role") in roles]
    if not fitting:
        if len(outputs) == 1:
            only = outputs[0]
            problems.append(Fit(f"Output '{only.name}' has role {only.params.get('role')} but the data is for "
                                f"{info.task.replace('_', ' ')}.", only.id, only.name,
                                f"Set its role to {roles[0]}.", {"node": only.id, "params": {"role": roles[0]}}))
            fitting = [only]
        else:
            problems.append(Fit(f"No Output has a role for {info.task.replace('_', ' ')} "
                                f"({' or '.join(roles)}).",
                                suggestion=f"Set the role of the Output that makes the prediction to {roles[0]}."))
            return problems
    output_problems = _check_output(network, analysis, fitting[0], info)
    if problems and _unknown(output_problems):
        return problems  # the Output is unknown because of the Input problem: fixing that comes first
    return problems + output_problems


def _check_agent(network: Network, analysis: Analysis, outputs: list[Node], info: DataInfo) -> list[Fit]:
    """An agent for an environment: an Output of action logits (one per action) and one state value."""
    actions = info.num_classes or 0
    by_role: dict[str, Node] = {}
    for output in outputs:
        by_role.setdefault(str(output.params.get("role")), output)
    policy = by_role.get("action_logits")
    problems: list[Fit] = []
    if policy is None:
        free = [o for o in outputs if o.params.get("role") != "state_value"]
        fix = {"node": free[0].id, "params": {"role": "action_logits"}} if len(free) == 1 else None
        problems.append(Fit(f"No Output has role action_logits: the agent for {info.title} needs a score for each "
                            f"of its {actions} actions.", free[0].id if fix else None, free[0].name if fix else None,
                            "Set the role of the Output after a Linear of "
                            f"{actions} units to action_logits.", fix))
    else:
        problems += _sized(network, analysis, policy, actions, f"{info.title} has {actions} actions")
    value = by_role.get("state_value")
    if value is None:
        problems.append(Fit("No Output has role state_value: the PPO agent's critic predicts the return from each "
                            "observation.", suggestion="Branch a Linear of 1 unit off the network and end it in "
                                                       "an Output with role state_value."))
    else:
        problems += _sized(network, analysis, value, 1, "a state value is one number")
    return problems


def _sized(network: Network, analysis: Analysis, output: Node, units: int, why: str) -> list[Fit]:
    node_info = analysis.nodes.get(output.id)
    out = node_info.output if node_info is not None else None
    if out is None:
        return [Fit(f"The size of Output '{output.name}' is not known yet, so the data cannot be checked against "
                    "it.", output.id, output.name, "Fix the problems marked on the canvas first.")]
    shape = tuple(out.shape)
    if len(shape) == 2 and shape[1] == units:
        return []
    message = f"Output '{output.name}' receives {_dims(shape)} but {why} (N×{units})."
    if len(shape) == 2:
        return [_size_fit(network, analysis, output, units, message)]
    return [Fit(message, output.id, output.name, f"End it with a Linear of {units} unit{'s' if units > 1 else ''}.")]


def _unknown(problems: list[Fit]) -> bool:
    return len(problems) == 1 and problems[0].message.startswith("The size of Output")
