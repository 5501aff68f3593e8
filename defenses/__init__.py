"""Built-in defenses, one file per defense or family (installed as ``uebench.defenses``).

What an attacker who knows the data is protected does about it (``Defense.kind``): data
defenses transform each protected training volume (and its label, for slice reordering) once,
seeded by the run; training-time defenses change every training step of the victim
(``Defense.batch_loss``, hooked into ``uebench.runner.training.train_segmenter``). How they
combine and take parameters: ``uebench.runner.defense_chain``.
"""

# One module per line: add yours on a line of its own.
BUILTIN_MODULES = (
    "none",
    "smoothing",
    "resampling",
    "quantisation",
    "augmentation",
    "nnunet_augmentation",
    "ueraser",
    "adversarial",
    "attacker",
)
