"""Use cases: each public method is one transaction, committed here and nowhere else."""
