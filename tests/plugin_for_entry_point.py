"""A method registered from outside the built-in folder, as an entry point would load it."""

import numpy as np

from uebench import registry
from uebench.core import Method


@registry.methods.register("third-party-noise")
class ThirdPartyNoise(Method):
    def perturb(self, case, ctx):
        return np.zeros_like(case.image)
