"""Aggregation of finished runs: paired differences over seeds, intervals."""
