"""Validation, shape inference, parameter and multiply-add counts for networks."""

from netbuilder.analysis.analyzer import Analysis, Analyzer, Diagnostic, NodeInfo, analyze, analyzer_for

__all__ = ["Analysis", "Analyzer", "Diagnostic", "NodeInfo", "analyze", "analyzer_for"]
