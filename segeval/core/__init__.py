"""Counting and metrics on arrays: label rules, kernels, the accumulator, formulas, boundaries."""
