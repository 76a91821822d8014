"""Benchmarks for logout-middleware: ``python -m benchmarks`` (``--quick`` for the smoke run of the test command).

pyperf times the in-process contestants in worker processes; wrk loads the
served ones; every contestant is checked to behave before it is timed.
"""
