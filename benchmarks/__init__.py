"""Benchmarks for logout-middleware: ``python -m benchmarks``, described in docs/benchmarks.md."""
