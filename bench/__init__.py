"""A benchmark of the generated services against raw-driver apps; run `python -m bench`."""
