"""Running one spec: data, protection, victim training, evaluation, the stage cache and the
record."""
