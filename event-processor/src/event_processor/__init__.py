"""Event processor: queued events to trades at IB Gateway."""
