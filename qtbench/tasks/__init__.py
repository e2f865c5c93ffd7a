"""Restoration tasks (registered in ``qtbench.tasks``): degradation models + the split protocol."""
