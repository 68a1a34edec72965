"""Compile a network to a torch.nn.Module (generated code, no per-call interpretation)."""

from netbuilder.compile.compiler import (
    CompiledInfo,
    CompileError,
    compile_network,
    compiled_info,
    example_inputs,
    random_inputs,
    sequence_limit,
    vocab_size,
)

__all__ = ["CompileError", "CompiledInfo", "compile_network", "compiled_info", "example_inputs", "random_inputs",
           "sequence_limit", "vocab_size"]
