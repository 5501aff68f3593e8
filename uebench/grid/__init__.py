"""The grid: many specs as a stage graph, run by local processes, Ray or Slurm."""
