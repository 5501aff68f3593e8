"""Every registered method passes the conformance suite (a new method is tested the moment it
is registered)."""

import numpy as np
import pytest

from uebench.contracts import registry
from uebench.contracts.conformance import check_method
from uebench.contracts.core import Method


@pytest.mark.parametrize("name", registry.methods.names())
def test_builtin_method_conforms(name):
    check_method(name)


def test_conformance_catches_a_budget_breaker(monkeypatch):
    class Loud(Method):
        def perturb(self, case, ctx):
            return np.full_like(case.image, 3 * self.epsilon)

    monkeypatch.setitem(registry.methods._entries, "loud", Loud)
    Loud.name = "loud"
    with pytest.raises(Exception, match="exceeds the budget"):
        check_method("loud")


def test_conformance_catches_nondeterminism(monkeypatch):
    class Jitter(Method):
        def perturb(self, case, ctx):
            return np.random.default_rng().uniform(-self.epsilon, self.epsilon, case.image.shape)

    monkeypatch.setitem(registry.methods._entries, "jitter", Jitter)
    Jitter.name = "jitter"
    with pytest.raises(AssertionError, match="same seed"):
        check_method("jitter")


def test_check_method_says_what_passed(capsys):
    line = check_method("random")
    printed = capsys.readouterr().out
    assert printed == line + "\n" and "\n" not in line
    assert line.startswith("check_method('random'): passed on 3 spheres cases")
    for rule in ("JSON params", "delta shape", "finite", "budget (L-inf 4/255) on the stored",
                 "[0, 1]", "same seed"):
        assert rule in line
    check_method("random", quiet=True)
    assert capsys.readouterr().out == ""


def test_the_method_template_in_the_docs_conforms(monkeypatch):
    import importlib.util
    from pathlib import Path

    registry.methods.names()  # load the built-ins before swapping in a scratch table
    monkeypatch.setattr(registry.methods, "_entries", dict(registry.methods._entries))
    path = Path(__file__).parents[1] / "docs" / "method_template.py"
    spec = importlib.util.spec_from_file_location("method_template", path)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
    check_method("template-noise")
    check_method("template-noise", params={"scale": 0.5})
