"""The public API is simkit.__all__: sorted, complete and honest (as httpx keeps its own)."""

import inspect

import simkit


def test_all_is_sorted_and_unique():
    assert simkit.__all__ == sorted(simkit.__all__, key=lambda n: (n.lower(), n)) or \
        simkit.__all__ == sorted(simkit.__all__)
    assert len(set(simkit.__all__)) == len(simkit.__all__)


def test_every_name_in_all_exists():
    for name in simkit.__all__:
        assert hasattr(simkit, name), name


def test_every_public_class_and_function_is_in_all():
    for name, value in vars(simkit).items():
        if name.startswith("_") or not (inspect.isclass(value) or inspect.isfunction(value)):
            continue
        if getattr(value, "__module__", "").startswith("simkit"):
            assert name in simkit.__all__, f"{name} is public but missing from __all__"


def test_public_callables_have_docstrings():
    for name in simkit.__all__:
        value = getattr(simkit, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert inspect.getdoc(value), f"{name} has no docstring"
