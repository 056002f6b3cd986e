"""Errors that the CLI turns into one clear line and a non-zero exit."""


class FactrootsError(Exception):
    """Unusable input or state: reported to the user as one line, never a traceback."""
