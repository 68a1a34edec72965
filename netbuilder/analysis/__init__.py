"""Validation, shape inference, parameter and multiply-add counts for networks."""

from netbuilder.analysis.analyzer import Analysis, Analyzer, Diagnostic, NodeInfo, analyze, analyzer_for
from netbuilder.analysis.causes import ProblemGroup, group_by_cause

__all__ = ["Analysis", "Analyzer", "Diagnostic", "NodeInfo", "ProblemGroup", "analyze", "analyzer_for",
           "group_by_cause"]
