"""Analysis: statistical comparison of runs, the statistics behind it, plots and run diffs."""
