"""Fault injection with real processes: `make faults` (scripts/faults/run.py). See docs/reliability.md."""
