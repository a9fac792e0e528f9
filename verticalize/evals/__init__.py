"""Domain evaluation suites built on local `evaluate` metrics."""

from verticalize.evals.report import EvalReport
from verticalize.evals.runner import run_suites
from verticalize.evals.suite import Suite, list_suites, load_suite

__all__ = ["EvalReport", "Suite", "load_suite", "list_suites", "run_suites"]
