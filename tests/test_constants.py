"""One package-wide interval probability, and every public report/plot function uses it as
a keyword-only default."""

import importlib
import inspect
import pkgutil

import bayes_scaling
from bayes_scaling import plots
from bayes_scaling.constants import CI_PROB


def test_ci_prob_value():
    assert CI_PROB == 0.9
    assert bayes_scaling.CI_PROB is CI_PROB


def _public_functions():
    modules = [importlib.import_module("bayes_scaling.report")]
    modules += [
        importlib.import_module(f"bayes_scaling.plots.{m.name}")
        for m in pkgutil.iter_modules(plots.__path__)
    ]
    for module in modules:
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if fn.__module__ == module.__name__ and not name.startswith("_"):
                yield f"{module.__name__}.{name}", fn


def test_every_ci_parameter_defaults_to_ci_prob_and_plots_are_keyword_only():
    seen = 0
    for name, fn in _public_functions():
        params = inspect.signature(fn).parameters
        if "ci" in params:
            seen += 1
            assert params["ci"].default == CI_PROB, name
            assert params["ci"].kind is inspect.Parameter.KEYWORD_ONLY, name
        if ".plots." in name and name.split(".")[-1] not in ("band", "save_figure"):
            kinds = {p.kind for p in params.values()}
            assert kinds <= {inspect.Parameter.KEYWORD_ONLY}, f"{name} must be keyword-only"
    assert seen >= 3
