"""Every layer spec is tested the same way (DESIGN.md, principle 11): its params coerce, its module builds from the
symbolic input types the analyzer passes, the shape rule agrees with the real module on real tensors, the parameter
count is exact, one backward pass gives finite gradients, and the ONNX export matches onnxruntime on a different
batch size. Below that: the error messages users see, and a few layer-specific behaviours."""

from __future__ import annotations

import inspect
import math
import re
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
import torch

from netbuilder.specs import (
    CATEGORY_ORDER,
    LayerContext,
    LayerSpec,
    ParamError,
    ShapeError,
    TensorType,
    all_specs,
    get_spec,
)

SPECS = [spec for spec in all_specs() if spec.id != "Input"]
SIZES = {"N": 3, "T": 5}  # what the symbols stand for when real tensors are made
OTHER_SIZES = {"N": 2, "T": 7}  # onnxruntime runs on another batch (and sequence length) than the export traced
# Specs whose module the dynamo ONNX exporter cannot handle, exported with the legacy TorchScript exporter instead.
LEGACY_ONNX: set[str] = set()
# Specs whose dynamo ONNX export fixes the sequence length T at the traced value (the batch stays dynamic).
FIXED_LENGTH_ONNX = {
    "RNN": "aten.rnn_tanh/rnn_relu have no ONNX RNN translation in the dynamo exporter; the loop is unrolled over "
    "the traced steps (the legacy exporter emits an ONNX RNN op with a dynamic length)",
}


# ---------------------------------------------------------------------------------------------------------------
# A tiny evaluator for symbolic dims such as "(T-2)//2+1" (+ - * // and parentheses; no eval()).

_TOKEN = re.compile(r"\s*(\d+|[A-Za-z_]\w*|//|[-+*()])")


def evaluate(expr: str, env: dict[str, int]) -> int:
    tokens: list[str] = []
    pos = 0
    expr = expr.strip()
    while pos < len(expr):
        match = _TOKEN.match(expr, pos)
        if not match:
            raise ValueError(f"Cannot read {expr!r} at {pos}.")
        tokens.append(match.group(1))
        pos = match.end()
    index = 0

    def peek() -> str | None:
        return tokens[index] if index < len(tokens) else None

    def take() -> str:
        nonlocal index
        index += 1
        return tokens[index - 1]

    def expression() -> int:
        value = term()
        while peek() in ("+", "-"):
            value = value + term() if take() == "+" else value - term()
        return value

    def term() -> int:
        value = factor()
        while peek() in ("*", "//"):
            value = value * factor() if take() == "*" else value // factor()
        return value

    def factor() -> int:
        token = take()
        if token == "-":
            return -factor()
        if token == "+":
            return factor()
        if token == "(":
            value = expression()
            if take() != ")":
                raise ValueError(f"Unbalanced parentheses in {expr!r}.")
            return value
        if token.isdigit():
            return int(token)
        if token in env:
            return env[token]
        raise ValueError(f"Unknown symbol {token!r} in {expr!r}.")

    result = expression()
    if index != len(tokens):
        raise ValueError(f"Unexpected {tokens[index]!r} in {expr!r}.")
    return result


def test_evaluator() -> None:
    env = {"N": 3, "T": 5}
    assert evaluate("T", env) == 5
    assert evaluate("(T-2)//2+1", env) == 2
    assert evaluate("(T-1)*2+2", env) == 10
    assert evaluate("T*8//4 + -1", env) == 9
    assert evaluate("(T+T)*N", env) == 30
    with pytest.raises(ValueError):
        evaluate("T**2", env)
    with pytest.raises(ValueError):
        evaluate("__import__('os')", env)


def concrete(shape: tuple[Any, ...], env: dict[str, int]) -> tuple[int, ...]:
    return tuple(d if isinstance(d, int) else evaluate(str(d), env) for d in shape)


# ---------------------------------------------------------------------------------------------------------------
# Building an example of each spec


def example_types(spec: LayerSpec) -> tuple[TensorType, ...]:
    dtypes = spec.example_dtypes or ()
    return tuple(TensorType(tuple(shape), dtypes[i] if i < len(dtypes) else "float32")
                 for i, shape in enumerate(spec.example_inputs))


def example_tensors(spec: LayerSpec, params: dict[str, Any], types: tuple[TensorType, ...],
                    env: dict[str, int]) -> tuple[torch.Tensor, ...]:
    tensors = []
    for t in types:
        shape = concrete(t.shape, env)
        if t.dtype == "int64":
            tensors.append(torch.randint(0, params.get("vocab_size", 10), shape))
        else:
            tensors.append(torch.randn(shape))
    return tuple(tensors)


def build(spec: LayerSpec) -> tuple[dict[str, Any], LayerContext, torch.nn.Module]:
    params = spec.coerce_params(spec.example_params)
    ctx = LayerContext(params, example_types(spec), node_name=spec.id.lower())
    return params, ctx, spec.build(ctx)


def as_tuple(output: Any) -> tuple[torch.Tensor, ...]:
    return tuple(output) if isinstance(output, tuple | list) else (output,)


# ---------------------------------------------------------------------------------------------------------------
# The same checks for every spec


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.id)
def test_shape_rule_matches_module(spec: LayerSpec) -> None:
    torch.manual_seed(0)
    params, ctx, module = build(spec)
    inferred = spec.infer(ctx)
    assert len(inferred) == len(spec.output_ports(params)) or spec.id == "Output"
    module.train()
    outputs = as_tuple(module(*example_tensors(spec, params, ctx.inputs, SIZES)))
    assert len(outputs) == len(inferred)
    for out, t in zip(outputs, inferred, strict=True):
        assert tuple(out.shape) == concrete(t.shape, SIZES), f"{spec.id}: module gives {tuple(out.shape)}, " \
            f"shape rule says {t}"
        assert str(out.dtype).removeprefix("torch.") == t.dtype
    assert isinstance(spec.macs(ctx), int) and spec.macs(ctx) >= 0


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.id)
def test_param_count_is_exact(spec: LayerSpec) -> None:
    _, ctx, module = build(spec)
    assert spec.count_params(ctx) == sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.id)
def test_constructor_call_is_recorded_in_plain_values(spec: LayerSpec) -> None:
    _, _, module = build(spec)
    cls, args, kwargs = module._nb_ctor

    def plain(value: Any) -> bool:
        if isinstance(value, tuple):
            return all(plain(v) for v in value)
        return value is None or isinstance(value, bool | int | float | str)

    assert type(module) is cls
    assert all(plain(a) for a in args) and all(plain(v) for v in kwargs.values()), module._nb_ctor
    again = cls(*args, **kwargs)  # what PyTorch code export will write
    assert sum(p.numel() for p in again.parameters()) == sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.id)
def test_backward_pass(spec: LayerSpec) -> None:
    torch.manual_seed(0)
    params, ctx, module = build(spec)
    module.train()
    inputs = example_tensors(spec, params, ctx.inputs, SIZES)
    for x in inputs:
        if x.is_floating_point():
            x.requires_grad_(True)
    loss = sum(out.float().sum() for out in as_tuple(module(*inputs)))
    loss.backward()  # type: ignore[union-attr]
    for name, p in module.named_parameters():
        assert p.grad is not None, f"{spec.id}: parameter {name} got no gradient"
        assert torch.isfinite(p.grad).all(), f"{spec.id}: parameter {name} has a non-finite gradient"
    for x in inputs:
        if x.requires_grad:
            assert x.grad is not None and torch.isfinite(x.grad).all()


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.id)
def test_onnx_export_matches_onnxruntime(spec: LayerSpec, tmp_path) -> None:
    torch.manual_seed(0)
    params, ctx, module = build(spec)
    module.eval()
    # Not the bare port names: the dynamo exporter names an output that passes an input straight through (e.g.
    # Reparameterize in eval mode returns `mean`) after the forward argument, which then clashes with an input of
    # the same name ("Duplicate definition of name").
    names = [f"{port.name}_input" for port in spec.input_ports(params)]
    args = example_tensors(spec, params, ctx.inputs, SIZES)
    path = tmp_path / f"{spec.id}.onnx"
    with torch.no_grad():
        if spec.id in LEGACY_ONNX:
            torch.onnx.export(module, args, str(path), dynamo=False, input_names=names,
                              dynamic_axes={name: {0: "batch"} for name in names})
        else:
            batch = torch.export.Dim("batch", min=1, max=4096)
            dims = tuple({0: batch, **{i: torch.export.Dim.AUTO for i, d in enumerate(t.shape) if d == "T"}}
                         for t in ctx.inputs)
            varargs = any(p.kind is inspect.Parameter.VAR_POSITIONAL
                          for p in inspect.signature(module.forward).parameters.values())
            torch.onnx.export(module, args, str(path), dynamo=True, input_names=names,
                              dynamic_shapes=(dims,) if varargs else dims, verbose=False)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    fresh = example_tensors(spec, params, ctx.inputs,
                            {**OTHER_SIZES, "T": SIZES["T"]} if spec.id in FIXED_LENGTH_ONNX else OTHER_SIZES)
    feeds = {i.name: x.numpy() for i, x in zip(session.get_inputs(), fresh, strict=True)}
    got = session.run(None, feeds)
    with torch.no_grad():
        expected = as_tuple(module(*fresh))
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        assert g.shape == tuple(e.shape)
        np.testing.assert_allclose(g, e.numpy(), atol=1e-4, rtol=0)


@pytest.mark.parametrize("spec", [*SPECS, get_spec("Input")], ids=lambda s: s.id)
def test_spec_metadata(spec: LayerSpec) -> None:
    assert spec.doc.strip() and spec.title.strip()
    assert spec.category in CATEGORY_ORDER
    assert re.fullmatch(r"[A-Z][A-Za-z0-9]*", spec.id)
    for p in spec.params:
        assert p.doc.strip(), f"{spec.id}.{p.name} has no doc"
        assert p.coerce(p.default) == p.default, f"{spec.id}.{p.name}: the default is not in canonical form"
    spec.coerce_params({})  # the defaults are valid
    params = spec.coerce_params(spec.example_params)
    if spec.label is not None:
        assert isinstance(spec.label(params), str)
        assert isinstance(spec.label(spec.coerce_params({})), str)
    ports = spec.input_ports(params)
    if spec.id != "Input":
        assert len(ports) == len(spec.example_inputs), "one example input per input port"
    assert len({p.name for p in ports}) == len(ports)


def test_catalog_holds_the_promised_layers() -> None:
    ids = {spec.id for spec in all_specs()}
    promised = [
        "Input", "Output", "Linear", "Identity", "Flatten", "Reshape", "Permute", "Squeeze", "Unsqueeze",
        "Upsample", "PixelShuffle", "Pad", "SelectStep", "Split", "Conv1d", "Conv2d", "Conv3d",
        "ConvTranspose1d", "ConvTranspose2d", "MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d",
        "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "GlobalAvgPool", "GlobalMaxPool", "BatchNorm1d",
        "BatchNorm2d", "LayerNorm", "GroupNorm", "InstanceNorm2d", "Dropout", "Dropout2d", "Add", "Multiply",
        "Concat", "Mean", "Stack", "RNN", "LSTM", "GRU", "Embedding", "PositionalEncoding",
        "MultiheadAttention", "TransformerEncoderLayer", "TransformerDecoderLayer", "Reparameterize",
    ]
    assert set(promised) <= ids, set(promised) - ids


# ---------------------------------------------------------------------------------------------------------------
# Error messages, in the user's words


def infer(type_id: str, params: dict[str, Any], *shapes: tuple, dtypes: tuple[str, ...] = ()) -> tuple:
    spec = get_spec(type_id)
    types = tuple(TensorType(s, dtypes[i] if i < len(dtypes) else "float32") for i, s in enumerate(shapes))
    return spec.infer(LayerContext(spec.coerce_params(params), types))


SHAPE_ERRORS = [
    ("Conv2d", {}, [("N", 16)], (), ["conv2d", "n×c×h×w", "rank 2"]),
    ("Conv2d", {"kernel_size": 5}, [("N", 3, 3, 8)], (), ["kernel 5", "larger", "height 3"]),
    ("Conv2d", {"kernel_size": 5, "padding": "explicit", "padding_size": 1}, [("N", 3, 2, 8)], (),
     ["kernel 5", "padded input height 4"]),
    ("Conv2d", {"groups": 4}, [("N", 6, 8, 8)], (), ["groups 4", "input channels", "6"]),
    ("Conv2d", {"groups": 3, "filters": 32}, [("N", 6, 8, 8)], (), ["groups 3", "output channels", "32"]),
    ("Conv2d", {"padding": "same", "stride": 2}, [("N", 3, 8, 8)], (), ["same", "stride 1"]),
    ("Conv1d", {}, [("N", "T", 8)], (), ["channel", "variable t"]),
    ("Conv2d", {}, [("N", 3, 8, 8)], ("int64",), ["float", "token ids"]),
    ("ConvTranspose2d", {"output_padding": 2, "stride": 2}, [("N", 3, 4, 4)], (), ["output padding 2", "stride"]),
    ("Linear", {}, [("N", 16)], ("int64",), ["linear", "float", "token ids"]),
    ("Linear", {}, [("N", 4, "T")], (), ["fixed number", "t"]),
    ("MaxPool2d", {"kernel_size": 4}, [("N", 3, 3, 8)], (), ["kernel 4", "larger", "height 3"]),
    ("MaxPool2d", {"kernel_size": 2, "padding": 2}, [("N", 3, 8, 8)], (), ["padding 2", "half the kernel"]),
    ("GlobalAvgPool", {}, [("N", 8)], (), ["n×c×", "rank 2"]),
    ("MultiheadAttention", {"num_heads": 3}, [("N", "T", 8)], (), ["heads", "3", "divide", "8"]),
    ("MultiheadAttention", {"mode": "cross", "causal": True}, [("N", "T", 8), ("N", 4, 8)], (), ["causal",
                                                                                                "self-attention"]),
    ("MultiheadAttention", {}, [("N", 8)], (), ["sequence", "rank 2"]),
    ("TransformerEncoderLayer", {"nhead": 5}, [("N", "T", 8)], (), ["heads", "5", "divide", "8"]),
    ("TransformerDecoderLayer", {"nhead": 2}, [("N", "T", 8), ("N", 4, 6)], (), ["memory", "6 features", "8"]),
    ("Concat", {}, [("N", 3, 4), ("N", 3, 5)], (), ["axis 2", "4", "5", "in2"]),
    ("Concat", {"axis": 0}, [("N", 3), ("N", 3)], (), ["batch"]),
    ("Add", {}, [("N", 3, 8), ("N", 3, 4)], (), ["axis 2", "8", "4", "broadcast"]),
    ("Add", {}, [("N", 8), ("N", 2, 8)], (), ["same rank"]),
    ("Stack", {}, [("N", 3), ("N", 4)], (), ["identical shape"]),
    ("Concat", {}, [("N", 3), ("N", 4)], ("float32", "int64"), ["float", "token ids", "in2"]),
    ("Multiply", {}, [("N", 3), ("N", 3)], ("int64", "int64"), ["float", "token ids"]),
    ("GroupNorm", {"groups": 3}, [("N", 8, 4, 4)], (), ["groups 3", "divide", "8 channels"]),
    ("BatchNorm2d", {}, [("N", 8)], (), ["n×c×h×w", "rank 2"]),
    ("LayerNorm", {"axes": 2}, [("N", "T", 8)], (), ["variable t"]),
    ("Embedding", {}, [("N", "T")], (), ["int64", "float"]),
    ("PositionalEncoding", {"kind": "sinusoidal"}, [("N", "T", 7)], (), ["even", "7"]),
    ("PositionalEncoding", {"max_len": 4}, [("N", 6, 8)], (), ["6 steps", "max length 4"]),
    ("LSTM", {}, [("N", 16)], (), ["n×t×f", "rank 2"]),
    ("GRU", {}, [("N", "T", 8)], ("int64",), ["gru", "float", "token ids"]),
    ("Reshape", {"shape": (5, -1)}, [("N", 16)], (), ["16", "not divisible", "5"]),
    ("Reshape", {"shape": (4, 5)}, [("N", 16)], (), ["16 values", "20 values"]),
    ("Reshape", {"shape": (4, 4)}, [("N", "T", 4)], (), ["variable length", "-1"]),
    ("Permute", {"order": (1, 1)}, [("N", 3, 4)], (), ["each of the axes 1..2"]),
    ("Squeeze", {"axis": 1}, [("N", 3, 4)], (), ["size 1", "size 3"]),
    ("Upsample", {"mode": "bilinear"}, [("N", 3, "T")], (), ["bilinear", "sequence", "linear"]),
    ("PixelShuffle", {"upscale_factor": 2}, [("N", 6, 4, 4)], (), ["divisible by 4", "6 channels"]),
    ("Pad", {"amount": 3, "mode": "reflection"}, [("N", 2, 3)], (), ["reflection", "length is 3"]),
    ("Split", {"chunks": 3}, [("N", 8)], (), ["axis 1", "size 8", "3 equal parts"]),
    ("Split", {"axis": 1}, [("N", "T", 4)], (), ["axis 1", "variable t"]),
    ("Dropout2d", {}, [("N", 8)], (), ["n×c×h×w"]),
    ("Reparameterize", {}, [("N", 8), ("N", 4)], (), ["mean", "log-variance", "same shape"]),
]


@pytest.mark.parametrize("type_id, params, shapes, dtypes, words", SHAPE_ERRORS,
                         ids=[f"{case[0]}-{i}" for i, case in enumerate(SHAPE_ERRORS)])
def test_shape_errors_name_the_problem(type_id: str, params: dict, shapes: list, dtypes: tuple,
                                       words: list[str]) -> None:
    with pytest.raises(ShapeError) as caught:
        infer(type_id, params, *shapes, dtypes=dtypes)
    message = caught.value.message.lower()
    for word in words:
        assert word in message, f"{word!r} not in {caught.value.message!r}"


def test_shape_errors_point_at_the_param_and_suggest_a_fix() -> None:
    with pytest.raises(ShapeError) as caught:
        infer("GroupNorm", {"groups": 3}, ("N", 8, 4, 4))
    assert caught.value.param == "groups" and caught.value.suggestion
    with pytest.raises(ShapeError) as caught:
        infer("Linear", {}, ("N", 16), dtypes=("int64",))
    assert "Embedding" in (caught.value.suggestion or "")


PARAM_ERRORS = [
    ("Conv2d", {"filters": 0}, "at least 1"),
    ("Conv2d", {"kernel_size": (3, 3, 3)}, "needs 2 numbers"),
    ("Conv2d", {"padding": "full"}, "one of valid, same, explicit"),
    ("Dropout", {"p": 1.5}, "at most 1"),
    ("Split", {"chunks": 9}, "at most 8"),
    ("Add", {"inputs": 1}, "at least 2"),
    ("LSTM", {"hidden_size": "big"}, "whole number"),
    ("LSTM", {"returns": "all"}, "one of sequence, last"),
    ("MultiheadAttention", {"heads": 4}, "no parameter"),
    ("Embedding", {"vocab_size": -3}, "at least 1"),
]


@pytest.mark.parametrize("type_id, params, words", PARAM_ERRORS, ids=[c[0] for c in PARAM_ERRORS])
def test_param_errors(type_id: str, params: dict, words: str) -> None:
    with pytest.raises(ParamError, match=words):
        get_spec(type_id).coerce_params(params)


# ---------------------------------------------------------------------------------------------------------------
# Layer-specific behaviour


def test_symbolic_shapes() -> None:
    assert infer("Reshape", {"shape": (-1, 4)}, ("N", "T", 8))[0].shape == ("N", "T*2", 4)
    assert infer("Conv1d", {"filters": 4, "stride": 2}, ("N", 3, "T"))[0].shape == ("N", 4, "(T-3)//2+1")
    assert infer("Conv1d", {"filters": 4, "padding": "same"}, ("N", 3, "T"))[0].shape == ("N", 4, "T")
    assert infer("Concat", {"axis": 1}, ("N", "T", 4), ("N", 3, 4))[0].shape == ("N", "T+3", 4)
    assert infer("Upsample", {}, ("N", 2, "T"))[0].shape == ("N", 2, "T*2")
    assert infer("LSTM", {"hidden_size": 8, "returns": "sequence", "bidirectional": True},
                 ("N", "T", 3))[0].shape == ("N", "T", 16)
    assert infer("SelectStep", {}, ("N", "T", 3))[0].shape == ("N", 3)
    assert infer("Squeeze", {}, ("N", 1, 4, 1))[0].shape == ("N", 4)
    assert infer("Unsqueeze", {"axis": -1}, ("N", 4))[0].shape == ("N", 4, 1)
    assert infer("Embedding", {"dim": 8}, ("N", "T"), dtypes=("int64",))[0] == TensorType(("N", "T", 8))
    assert infer("Stack", {"inputs": 3, "axis": -1}, ("N", 4), ("N", 4), ("N", 4))[0].shape == ("N", 4, 3)
    assert infer("Add", {}, ("N", 4, 1, 1), ("N", 4, 5, 6))[0].shape == ("N", 4, 5, 6)
    ids = infer("Concat", {"axis": 1}, ("N", "T"), ("N", 4), dtypes=("int64", "int64"))[0]
    assert ids == TensorType(("N", "T+4"), "int64")


def test_variable_ports() -> None:
    assert [p.name for p in get_spec("Split").output_ports({"chunks": 4})] == ["out1", "out2", "out3", "out4"]
    assert [p.name for p in get_spec("Concat").input_ports({"inputs": 3})] == ["in1", "in2", "in3"]
    assert [p.name for p in get_spec("Add").input_ports({"inputs": "bad"})] == ["in1", "in2"]
    assert [p.name for p in get_spec("MultiheadAttention").input_ports({"mode": "cross"})] == ["in", "memory"]
    assert [p.name for p in get_spec("MultiheadAttention").input_ports({})] == ["in"]
    assert [p.name for p in get_spec("TransformerDecoderLayer").input_ports()] == ["target", "memory"]
    assert [p.name for p in get_spec("Reparameterize").input_ports()] == ["mean", "log_var"]


def test_labels() -> None:
    def label(type_id: str, params: dict) -> str:
        spec = get_spec(type_id)
        return spec.summary(spec.coerce_params(params))

    assert label("Conv2d", {"filters": 32, "kernel_size": 3}) == "32, 3x3, s1"
    assert label("LSTM", {"hidden_size": 128, "returns": "last"}) == "128, last"
    assert label("Dropout", {"p": 0.5}) == "p=0.5"
    assert label("MaxPool2d", {"kernel_size": 2}) == "2x2"


def test_reparameterize_samples_in_training_and_returns_the_mean_in_eval() -> None:
    spec = get_spec("Reparameterize")
    ctx = LayerContext({}, (TensorType(("N", 4)), TensorType(("N", 4))))
    module = spec.build(ctx)
    mean, log_var = torch.randn(6, 4), torch.randn(6, 4)
    module.eval()
    assert torch.equal(module(mean, log_var), mean)
    module.train()
    torch.manual_seed(1)
    z = module(mean, log_var)
    torch.manual_seed(1)
    assert torch.allclose(z, mean + torch.exp(0.5 * log_var) * torch.randn_like(mean))
    expected = (-0.5 * (1 + log_var - mean**2 - log_var.exp())).sum(dim=1).mean()
    assert module.kl.dim() == 0 and torch.allclose(module.kl, expected)
    zero = module(torch.zeros(2, 4), torch.zeros(2, 4))
    assert zero.shape == (2, 4) and float(module.kl) == 0.0


def test_recurrent_last_is_the_final_hidden_state() -> None:
    torch.manual_seed(0)
    spec = get_spec("GRU")
    params = spec.coerce_params({"hidden_size": 5, "bidirectional": True, "returns": "last"})
    module = spec.build(LayerContext(params, (TensorType(("N", "T", 3)),)))
    x = torch.randn(2, 7, 3)
    sequence, _ = module.rnn(x)
    last = module(x)
    assert torch.allclose(last[:, :5], sequence[:, -1, :5])  # forward direction after the last step
    assert torch.allclose(last[:, 5:], sequence[:, 0, 5:])  # backward direction after reaching the first step


def test_single_layer_recurrent_ignores_dropout() -> None:
    spec = get_spec("LSTM")
    params = spec.coerce_params({"hidden_size": 4, "dropout": 0.5})
    module = spec.build(LayerContext(params, (TensorType(("N", "T", 3)),)))
    assert module.rnn.dropout == 0.0


def test_causal_attention_ignores_the_future() -> None:
    torch.manual_seed(0)
    for type_id, params in [("MultiheadAttention", {"num_heads": 2, "causal": True}),
                            ("TransformerEncoderLayer", {"nhead": 2, "dropout": 0.0, "causal": True})]:
        spec = get_spec(type_id)
        module = spec.build(LayerContext(spec.coerce_params(params), (TensorType(("N", "T", 8)),))).eval()
        x = torch.randn(2, 6, 8)
        changed = x.clone()
        changed[:, 4:] = torch.randn(2, 2, 8)
        with torch.no_grad():
            assert torch.allclose(module(x)[:, :4], module(changed)[:, :4], atol=1e-5), type_id
            assert not torch.allclose(module(x)[:, 4:], module(changed)[:, 4:]), type_id


def test_sinusoidal_positional_encoding_has_no_weights() -> None:
    spec = get_spec("PositionalEncoding")
    ctx = LayerContext(spec.coerce_params({"kind": "sinusoidal", "max_len": 32}), (TensorType(("N", "T", 6)),))
    module = spec.build(ctx)
    assert spec.count_params(ctx) == 0 == sum(p.numel() for p in module.parameters())
    assert module.state_dict() == {}
    out = module(torch.zeros(1, 3, 6))
    assert torch.allclose(out[0, 1, 0], torch.tensor(math.sin(1.0)))


# ---------------------------------------------------------------------------------------------------------------
# Symbolic sizes through chains of layers: the expression must still give the real size.

SEQUENCE_CHAINS = [
    [("Conv1d", {"filters": 4, "kernel_size": 3, "stride": 2}), ("Upsample", {"scale_factor": 2}),
     ("Conv1d", {"filters": 4, "kernel_size": 3}), ("Conv1d", {"filters": 4, "kernel_size": 3})],
    [("MaxPool1d", {"kernel_size": 2}), ("Pad", {"amount": 2}), ("ConvTranspose1d", {"filters": 2, "stride": 2}),
     ("AvgPool1d", {"kernel_size": 3, "stride": 2, "padding": 1})],
    [("Conv1d", {"filters": 4, "kernel_size": 5, "dilation": 2, "padding": "explicit", "padding_size": 1}),
     ("ConvTranspose1d", {"filters": 3, "kernel_size": 3, "stride": 3, "output_padding": 1}),
     ("Upsample", {"scale_factor": 3}), ("Conv1d", {"filters": 2, "kernel_size": 2, "stride": 3})],
]


@pytest.mark.parametrize("chain", SEQUENCE_CHAINS, ids=range(len(SEQUENCE_CHAINS)))
def test_symbolic_sizes_compose_through_chains(chain: list[tuple[str, dict]]) -> None:
    current = TensorType(("N", 3, "T"))
    modules = []
    for type_id, params in chain:
        spec = get_spec(type_id)
        ctx = LayerContext(spec.coerce_params(params), (current,))
        modules.append(spec.build(ctx))
        (current,) = spec.infer(ctx)
    for length in (23, 40, 61):
        x = torch.randn(2, 3, length)
        for module in modules:
            x = module(x)
        assert evaluate(str(current.shape[2]), {"T": length}) == x.shape[2], current.shape[2]


def test_equal_shrinkage_gives_equal_symbolic_sizes() -> None:
    # One kernel 5, or two kernels 3: both branches are T-4 long, so a residual Add of them is accepted.
    once = infer("Conv1d", {"filters": 4, "kernel_size": 5}, ("N", 3, "T"))[0]
    twice = infer("Conv1d", {"filters": 4}, infer("Conv1d", {"filters": 4}, ("N", 3, "T"))[0].shape)[0]
    assert once.shape == twice.shape == ("N", 4, "T-4")
    assert infer("Add", {}, once.shape, twice.shape)[0].shape == ("N", 4, "T-4")
    assert infer("Pad", {"amount": 2}, once.shape)[0].shape == ("N", 4, "T")


def test_instance_norm_refuses_a_single_position() -> None:
    with pytest.raises(ShapeError, match="only one position"):
        infer("InstanceNorm2d", {}, ("N", 8, 1, 1))
    assert infer("InstanceNorm2d", {}, ("N", 8, 1, 2))[0].shape == ("N", 8, 1, 2)


def test_linear_multiply_adds_are_per_sample_like_every_layer() -> None:
    spec = get_spec("Linear")
    params = spec.coerce_params({"units": 4})
    assert spec.macs(LayerContext(params, (TensorType(("N", 5, 3)),))) == 5 * 3 * 4
    # A variable length makes the per-sample cost unknown: 0, as for RNNs and convolutions, not one step's cost.
    assert spec.macs(LayerContext(params, (TensorType(("N", "T", 3)),))) == 0


@pytest.mark.parametrize("text, expected", [
    ("3x3", (3, 3)), ("3 × 3", (3, 3)), ("[3, 3]", (3, 3)), ("(3, 3)", (3, 3)), ("3", (3, 3)), ("3;3", (3, 3)),
])
def test_sizes_typed_as_text(text: str, expected: tuple) -> None:
    assert get_spec("Conv2d").param("kernel_size").coerce(text) == expected


@pytest.mark.parametrize("type_id, name, value, words", [
    ("Conv2d", "kernel_size", "3, x", "not 'x'"),  # a stray letter is named, never silently dropped
    ("Input", "shape", "T, x", "not 'x'"),
    ("Input", "shape", (2**70,), "at most"),
    ("Dropout", "p", 10**400, "finite"),  # too large for a float: a ParamError, not an OverflowError
    ("Linear", "units", 10**400, "401 digits"),
])
def test_absurd_param_values_are_refused_in_words(type_id: str, name: str, value: Any, words: str) -> None:
    with pytest.raises(ParamError, match=re.escape(words)):
        get_spec(type_id).param(name).coerce(value)
