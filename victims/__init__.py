"""Built-in victim networks (installed as ``uebench.victims``)."""

BUILTIN_MODULES = ("monai_nets",)
