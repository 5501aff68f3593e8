"""Built-in protection methods, one file each (installed as ``uebench.methods``)."""

# One module per line: add yours on a line of its own.
BUILTIN_MODULES = (
    "controls",
    "random_signs_roi",
    "random_signs_classwise",
    "voxshield",
    "em",
    "tap",
    "slicewise",
    "lsp",
    "ar",
    "ops",
    "rem",
)
