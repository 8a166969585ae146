"""Every package's public API is its __all__: sorted, complete and honest, by one rule (as httpx keeps its own)."""

import importlib
import inspect
import pkgutil

import pytest

import simkit

PACKAGES = ["simkit", "simkit.plots", "simkit.scenarios", "simkit.live"]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_sorted_unique_and_every_name_exists(name):
    package = importlib.import_module(name)
    assert package.__all__ == sorted(package.__all__), f"{name}.__all__ is not sorted"
    assert len(set(package.__all__)) == len(package.__all__)
    for member in package.__all__:
        assert hasattr(package, member), f"{name}.{member}"


def test_the_scenarios_package_exports_exactly_the_registered_scenarios():
    from simkit.scenarios import SCENARIOS

    assert simkit.scenarios.__all__ == sorted(SCENARIOS)


def test_the_plots_package_exports_every_plot_module_s_public_names():
    exported = set()
    for info in pkgutil.iter_modules(simkit.plots.__path__):
        if info.name.startswith("_") and info.name != "_base":
            continue
        exported |= set(importlib.import_module(f"simkit.plots.{info.name}").__all__)
    assert set(simkit.plots.__all__) == exported


def test_every_public_class_and_function_is_in_all():
    for name, value in vars(simkit).items():
        if name.startswith("_") or not (inspect.isclass(value) or inspect.isfunction(value)):
            continue
        if getattr(value, "__module__", "").startswith("simkit"):
            assert name in simkit.__all__, f"{name} is public but missing from __all__"


@pytest.mark.parametrize("name", PACKAGES)
def test_public_callables_have_docstrings(name):
    package = importlib.import_module(name)
    for member in package.__all__:
        value = getattr(package, member)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert inspect.getdoc(value), f"{name}.{member} has no docstring"
