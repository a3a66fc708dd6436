"""Errors that stop a service at start with one readable message."""


class ConfigError(Exception):
    """Invalid configuration: the message names the file (or variable), the entry and the field."""
