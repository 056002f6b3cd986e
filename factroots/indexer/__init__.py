"""Read WikiExtractor output, cut it into model-token lines, and build per-language indexes."""
