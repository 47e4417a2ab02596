"""Counting and metrics on arrays: label rules, histogram kernels, the accumulator, formulas."""
