"""Benchmarks (`make bench`). `bench.settings` and `bench.urls` serve the app under load in bench_signing.py."""
