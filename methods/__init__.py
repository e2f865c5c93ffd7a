"""qtbench's own plugins: pseudo-labelling frameworks, controls and add-ons.

They register through the same entry points a third-party package would use (pyproject.toml). The folder is
installed as the package ``qtbench_methods`` (``from qtbench_methods.bank import MemoryBank``), so that no generic
top-level ``methods`` package lands in site-packages.
"""
