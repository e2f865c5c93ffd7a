"""Restoration backbones (registered in ``qtbench.backbones``)."""
