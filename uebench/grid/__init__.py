"""The grid: many specs as a graph of shared stages, each computed once.

``sweep`` (the plan, the stage graph, resume and the local process executor) and
``executors`` (the same graph as Ray tasks or Slurm array jobs through submitit)."""
