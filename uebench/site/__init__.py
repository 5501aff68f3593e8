"""The documentation site's generated pages, made from the committed records and the registries.

``boards`` names the record folders the site shows; ``html_table`` turns a board into a sortable,
filterable HTML table; ``board_pages`` writes one page per board set; ``figures`` and
``method_pages`` write one page per method (its curve with intervals, defense rows, fidelity,
deviations, surrogate state and records); ``catalogue`` writes the plugin catalogue from the
registries; ``build`` writes them all into ``docs/`` (``python -m uebench.site``, and the MkDocs
hook ``hook.py`` before every build); ``screenshot`` photographs built pages in Chromium.
"""
