"""Background jobs: tasks that the worker (worker.py) runs off the request path."""
