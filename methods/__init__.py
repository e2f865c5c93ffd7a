"""qtbench's own plugins: pseudo-labelling frameworks, controls and add-ons.

They register through the same entry points a third-party package would use (pyproject.toml).
"""
