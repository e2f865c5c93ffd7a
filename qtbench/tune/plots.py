"""Study plots as PNGs: optimisation history, parameter importances, parallel coordinates.

Optuna's matplotlib backend (no plotly: the results folder holds static images for BENCHMARKS.md).
A plot that the study cannot support yet (importances need two completed trials with varying values)
is skipped with a reason instead of failing the report.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from qtbench import atomic

PLOTS = {
    "history.png": "plot_optimization_history",
    "importances.png": "plot_param_importances",
    "parallel.png": "plot_parallel_coordinate",
}


def write_plots(study: Any, out_dir: Path) -> dict[str, str]:
    """Write the plots to ``out_dir``; returns ``{file: "ok" | reason it was skipped}``."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display (clusters, CI)
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as om

    status: dict[str, str] = {}
    for name, fn in PLOTS.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Optuna marks its matplotlib plots experimental
                ax = getattr(om, fn)(study)
            fig = (ax.flat[0] if hasattr(ax, "flat") else ax).figure
            fig.set_size_inches(8, 5)
            fig.tight_layout()
            atomic.save_figure(out_dir / name, fig, dpi=110)
            plt.close(fig)
            status[name] = "ok"
        except Exception as exc:  # noqa: BLE001 - one plot must not stop the report
            plt.close("all")
            status[name] = f"skipped: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}"
    return status
