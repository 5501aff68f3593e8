"""Built-in protection methods, one file each (installed as ``uebench.methods``)."""

BUILTIN_MODULES = ("controls", "voxshield", "em", "tap", "slicewise", "lsp", "ar", "ops", "rem")
