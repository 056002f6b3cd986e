"""PROBELESS neuron attribution and language similarity by shared neurons."""
