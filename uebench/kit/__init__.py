"""The method kit: pieces that several methods (and defenses) share, such as the surrogate and
its fit rule."""
