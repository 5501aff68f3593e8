"""Records and what is read from them: labels, statistics, curves, boards and regression
comparisons."""
