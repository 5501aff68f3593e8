"""Built-in victim networks (installed as ``uebench.victims``)."""

# One module per line: add yours on a line of its own.
BUILTIN_MODULES = (
    "monai_nets",
)
