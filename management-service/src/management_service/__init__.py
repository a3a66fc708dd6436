"""Management service: API, metrics and dashboard over the queue."""
