"""Event broker: Zehnlabs strategy events into the Redis queue."""
