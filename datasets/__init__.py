"""Built-in datasets (installed as ``uebench.datasets``)."""

# One module per line: add yours on a line of its own.
BUILTIN_MODULES = (
    "brats_mni",
    "abdomen_phantom",
    "spheres",
    "decathlon",
    "brats",
    "flare",
)
