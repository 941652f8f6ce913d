"""The SLA bench of issue 12 (make bench): python -m bench --help."""
