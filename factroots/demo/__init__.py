"""A self-contained demonstration on a generated corpus with planted facts."""
