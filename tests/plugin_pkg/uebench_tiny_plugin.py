"""A method that lives outside the uebench repository and registers through an entry point."""

import numpy as np

from uebench.contracts.core import Method
from uebench.contracts.registry import register_method


@register_method("tiny-sign")
class TinySign(Method):
    """Third-party example: +eps on the foreground, -eps elsewhere."""

    def perturb(self, case, ctx):
        return np.where(case.foreground[None], self.epsilon, -self.epsilon).astype(np.float32)
