"""Benchmarks for logout-middleware: ``python -m benchmarks`` (add ``--quick`` for a smoke run).

Every comparison is measured side by side in one run, in alternating rounds,
so that a noisy neighbour on a shared machine slows all contestants alike.
"""
