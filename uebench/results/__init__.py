"""Records and what is read from them: the record's one home (``records``: schema, loader,
cell, labels, assembly), statistics, curves, boards and regression comparisons."""
