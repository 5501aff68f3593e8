"""Built-in defenses, one file per defense or family (installed as ``uebench.defenses``).

What an attacker who knows the data is protected does about it (``Defense.kind``): data
defenses transform each protected training volume (and its label, for slice reordering) once,
seeded by the run; training-time defenses change every training step of the victim
(``Defense.batch_loss``, hooked into ``uebench.runner.training.train_segmenter``). The rest
of the attacker's own pipeline is hooks any defense may implement, each a no-op by default
(``Defense``: ``check``, ``clean_cases``, ``grid``, ``read``, ``initial_weights``,
``validation``; ``attacker.py`` implements the built-in ones): the runner calls them on every
defense and names none, so a new capability is one file here. How defenses combine and take
parameters: ``uebench.runner.defense_chain``.
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
