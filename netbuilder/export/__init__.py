"""Export: ONNX (checked against onnxruntime) and standalone PyTorch code."""

from netbuilder.export.base import ExportError
from netbuilder.export.onnx import OnnxReport, export_onnx
from netbuilder.export.pytorch_code import export_pytorch_code

__all__ = ["ExportError", "OnnxReport", "export_onnx", "export_pytorch_code"]
