"""``uebench report``: figures and one static HTML page rendered from the records.

``readback`` (stored deltas and clean cases from the caches, delta spectra), ``figures``
(matplotlib), ``page`` (sections and the HTML) and ``build`` (``build_report``, which ties
them together)."""
