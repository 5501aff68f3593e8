"""Built-in datasets (installed as ``uebench.datasets``)."""

BUILTIN_MODULES = ("brats_mni", "abdomen_phantom", "spheres", "decathlon")
