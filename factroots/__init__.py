"""factroots: trace the roots of facts in multilingual language models."""

__version__ = "0.1.0"
