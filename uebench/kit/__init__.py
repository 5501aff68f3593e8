"""The method kit: pieces that several methods (and defenses) share, so that no plugin
imports another.

``surrogates`` (the one surrogate, its training step and the shared fit rule),
``poisoning`` (signed-gradient steps, PGD, class-wise patterns for EM, TAP and slice-wise
UE), ``patches`` (a method's training set on either grid: whole volumes, or seeded patches
and covering tiles of cases at their own grid; sliding-window application), ``spectra`` (z
spectra and VoxShield's inter-slice term, also read by the report) and ``adversarial`` (the
PGD ascent and random flips of REM and the ``adv-train`` / ``ueraser`` defenses)."""
