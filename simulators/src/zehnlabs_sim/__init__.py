"""Zehnlabs simulator: Socket.IO strategy events and the allocations API."""
