"""``qtbench tune report``: the best setting as a config file, its target-test result, plots.

Two numbers are kept apart on purpose: the **tuning value** (target-val, what Optuna optimised) and the
**target-test** result of the best setting, which the tuner never saw. The test result of the best trial's
own run is read from its ``summary.json`` (every run scores test at its end; the tuner only reads the val
metric); ``--test-seeds`` adds fresh runs of the best setting on other photo splits.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import numpy as np

from qtbench import atomic
from qtbench.errors import UserError
from qtbench.tune import plots
from qtbench.tune.space import overrides as to_overrides
from qtbench.tune.study import counts, load_existing
from qtbench.tune.tuned import write_tuned

# what the report shows of each test run: the student (what a method ships) and its gain over the base
TEST_METRICS = ("student/target_psnr", "student/target_ssim", "delta/student-base/target_psnr")


def _test_run(identity: dict[str, Any], params: dict[str, Any], seed: int, runs_dir: Path, uri: str) -> dict:
    from qtbench.config.compose import compose_run
    from qtbench.runner import execute

    ovs = [*identity["overrides"], *to_overrides(params), "runtime.progress=false"]
    return execute(compose_run(identity["method"], identity["task"], seed, identity["scale"], ovs,
                               runs_dir=str(runs_dir), tracking_uri=uri))


def _trial_threads(run_dir: Optional[str]) -> Optional[int]:
    """The torch thread count the trial ran with (its saved config), or None when unknown."""
    import yaml

    cfg = Path(run_dir) / "config.yaml" if run_dir else None
    if cfg is None or not cfg.exists():
        return None
    return int(yaml.safe_load(cfg.read_text())["runtime"]["threads"]) or None


def _pick(summary: dict) -> dict[str, float]:
    return {k: float(summary["metrics"][k]) for k in TEST_METRICS if k in summary["metrics"]}


def make_report(name: str, study_dir: Path, storage: Optional[str], out_dir: Path, tracking_uri: str,
                test_seeds: tuple[int, ...] = ()) -> dict[str, Any]:
    """Write ``best.yaml``, ``report.json``, ``report.md`` and the plots to ``out_dir``; return the report.

    Args:
        name: study name.
        study_dir: ``<runs_dir>/tuning/<name>`` (journal, trial runs).
        storage: the study's RDB URL, or None for its journal file.
        out_dir: ``results/tuning/<name>``.
        tracking_uri: MLflow store for extra test runs.
        test_seeds: extra seeds (photo splits) to run the best setting on, besides the study's own.
    """
    study, ident = load_existing(name, storage, study_dir)
    c = counts(study)
    if not c.get("COMPLETE"):
        raise UserError(f"study {name!r} has no completed trial yet ({c or 'no trials'}); run `qtbench tune` first")
    best = study.best_trial
    out_dir.mkdir(parents=True, exist_ok=True)
    run_dir = best.user_attrs.get("run_dir")
    tuned = write_tuned(out_dir / "best.yaml", name, ident, best.number, float(best.value), best.params,
                        _trial_threads(run_dir))

    tests: dict[str, dict[str, float]] = {}
    if run_dir and (Path(run_dir) / "summary.json").exists():
        tests[str(ident["seed"])] = _pick(json.loads((Path(run_dir) / "summary.json").read_text()))
    else:  # the trial's folder was deleted: run the best setting again (same seed: same result)
        tests[str(ident["seed"])] = _pick(_test_run(ident, best.params, ident["seed"], study_dir / "report", tracking_uri))
    for s in test_seeds:
        if str(s) not in tests:
            tests[str(s)] = _pick(_test_run(ident, best.params, s, study_dir / "report", tracking_uri))
    mean = {k: float(np.mean([t[k] for t in tests.values() if k in t])) for k in TEST_METRICS
            if any(k in t for t in tests.values())}

    report = {
        "study": name,
        "method": ident["method"], "task": ident["task"], "scale": ident["scale"], "seed": ident["seed"],
        "trials": c,
        "tuning": {"split": "target-val", "metric": ident["metric"], "direction": ident["direction"],
                   "best_value": float(best.value), "best_trial": best.number, "params": best.params},
        "test": {"split": "target-test", "note": "never seen by the tuner", "per_seed": tests, "mean": mean},
        "tuned_config": str(tuned),
        "plots": plots.write_plots(study, out_dir),
    }
    atomic.write_json(out_dir / "report.json", report)
    atomic.write_text(out_dir / "report.md", render_markdown(report))
    return report


def render_markdown(r: dict[str, Any]) -> str:
    """A short human-readable report (also printed by the CLI)."""
    t, test = r["tuning"], r["test"]
    lines = [
        f"# Tuning study {r['study']}",
        "",
        f"{r['method']} on {r['task']} ({r['scale']} scale, seed {r['seed']}); trials: "
        + ", ".join(f"{k.lower()} {v}" for k, v in sorted(r["trials"].items())),
        "",
        f"**Tuning value** (target-val, {t['direction']} {t['metric']}): {t['best_value']:.4f} (trial {t['best_trial']})",
        "",
        "| parameter | best value |", "|---|---|",
        *[f"| {k} | {v:.6g} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in t["params"].items()],
        "",
        f"**Target-test of the best setting** ({test['note']}):",
        "",
        "| seed | " + " | ".join(TEST_METRICS) + " |", "|---" * (len(TEST_METRICS) + 1) + "|",
        *[f"| {s} | " + " | ".join(f"{m.get(k, float('nan')):.4f}" for k in TEST_METRICS) + " |"
          for s, m in test["per_seed"].items()],
        "",
        f"Tuned config: `{r['tuned_config']}`; plots: "
        + ", ".join(f"{k} ({v})" if v != "ok" else k for k, v in r["plots"].items()),
        "",
    ]
    return "\n".join(lines)
