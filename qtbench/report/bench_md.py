"""``results/bench/*.json`` (written by ``qtbench bench`` and other benches) -> Markdown for BENCHMARKS.md.

Every file gets its provenance (date, commit, machine and load, versions, exact command) and a table:
``scoring``, ``step`` and ``sweep`` have dedicated layouts; any other bench shows its scalar results as
key | value.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

STAGES = ("data", "teacher", "scoring", "student", "optimiser")
MAX_GENERIC_ROWS = 40


def _n(x: Any, digits: int = 3) -> str:
    return f"{x:.{digits}f}" if isinstance(x, (int, float)) and not isinstance(x, bool) else "—"


def provenance(d: dict) -> list[str]:
    """Bullet lines: date, commit, machine, versions, command."""
    git, mach = d.get("git") or {}, d.get("machine") or {}
    commit = str(git.get("commit") or "unknown")[:12] + (" (uncommitted changes)" if git.get("dirty") else "")
    load = ""
    if mach.get("load_start") and mach.get("load_end"):
        load = f", load average {mach['load_start'][0]:.2f} → {mach['load_end'][0]:.2f}"
    machine = f"{mach.get('cpu', 'unknown CPU')}, {mach.get('cores', '?')} cores, {mach.get('torch_threads') or mach.get('threads', '?')} thread(s){load}"
    if mach.get("gpu"):  # --device cuda
        machine = f"GPU {mach['gpu']} (CUDA); host {machine}"
    versions = ", ".join(f"{k} {d[k]}" for k in ("torch", "pyiqa", "python") if d.get(k))
    lines = [f"- date: {d.get('date', 'unknown')}; commit `{commit}`; wall time {_n(d.get('wall_s'), 1)} s",
             f"- machine: {machine}" + (f"; {versions}" if versions else "")]
    settings = d.get("settings") or {}
    if settings.get("scale") or settings.get("seed") is not None:
        lines.append(f"- scale `{settings.get('scale', '?')}`, task `{settings.get('task', '?')}`, "
                     f"seed {settings.get('seed', '?')}")
    lines.append(f"- command: `{d.get('command') or ' '.join(d.get('argv') or []) or 'unknown'}`")
    return lines


def _scoring(res: dict) -> list[str]:
    lines = ["| ensemble / what | batched s | looped s | speedup | max abs diff |", "|---|---:|---:|---:|---:|"]
    for name, r in sorted(res.get("rows", {}).items()):
        lines.append(f"| {name} ({r.get('what', '')}, {r.get('images', '?')} images) | {_n(r.get('batched_s'))} | "
                     f"{_n(r.get('looped_s'))} | **{_n(r.get('speedup'), 2)}x** | {r.get('max_abs_diff', 0):.1e} |")
        for member, m in sorted((r.get("members") or {}).items()):
            lines.append(f"| &nbsp;&nbsp;{member} (w {m.get('weight', '?')}) | {_n(m.get('batched_s'))} | "
                         f"{_n(m.get('looped_s'))} | {_n(m['looped_s'] / m['batched_s'], 2) if m.get('batched_s') else '—'}x | "
                         + (f"{m['max_abs_diff']:.1e} |" if m.get("max_abs_diff") is not None else "|"))
    return lines


def _step(res: dict) -> list[str]:
    lines = ["| method | s/iter | x mt | " + " | ".join(STAGES) + " | IQA forward |",
             "|---|" + "---:|" * (3 + len(STAGES))]
    order = res.get("methods") or sorted(res.get("rows", {}))
    for name in order:
        r = res.get("rows", {}).get(name)
        if r is None:
            continue
        st = r.get("stages_s_per_iter") or {}
        iqa = r.get("iqa_members_s_per_iter") or {}
        lines.append(f"| {name} | {_n(r.get('s_per_iter'))} | {_n(r.get('ratio_to_mt'), 2)} | "
                     + " | ".join(_n(st.get(s)) for s in STAGES) + f" | {_n(sum(iqa.values())) if iqa else '—'} |")
    start = res.get("start")
    if isinstance(res.get("start_step"), int) and start:  # files before 2026-11-27 hold a dict and no mode
        how = ("each variant's schedule run from step 0, untimed" if start == "schedule"
               else "fresh trainers put there (empty banks)")
        lines += ["", f"Timed from PL step {res['start_step']}: {how}; the MUSIQ row starts cold."]
    return lines


def _sweep(res: dict) -> list[str]:
    sub, skip = res.get("submit") or {}, res.get("skip") or {}
    ratio, ok, tgt = res.get("ratio_to_target") or {}, res.get("pass") or {}, res.get("targets") or {}
    rows = [(f"expand + submit {res.get('cells', '?')} cells ({sub.get('mode', '?')})", sub.get("seconds"),
             tgt.get("submit_s"), "submit"),
            (f"skip {res.get('cells', '?')} finished cells, parent run open", skip.get("seconds"), tgt.get("skip_s"),
             "skip"),
            (f"skip {res.get('cells', '?')} finished cells, parent run closed", skip.get("parent_closed_s"),
             tgt.get("skip_s"), "skip_parent_closed")]
    lines = ["| what (fresh process, end to end) | seconds | target | ratio | pass |", "|---|---:|---:|---:|---|"]
    for what, sec, target, key in rows:
        passed = {True: "yes", False: "**no**"}.get(ok.get(key), "—")
        lines.append(f"| {what} | {_n(sec, 2)} | < {_n(target, 0)} | {_n(ratio.get(key), 2)} | {passed} |")
    note = (f"Skip: median of {skip.get('repeats', '?')}; imports mlflow: {skip.get('imports_mlflow')}, "
            f"torch: {skip.get('imports_torch')}. Submit: {sub.get('what', '')}.")
    return [*lines, "", note]


def _leaves(obj: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(obj, dict):
        return [kv for k in sorted(obj) for kv in _leaves(obj[k], f"{prefix}.{k}" if prefix else str(k))]
    return [(prefix, obj)] if isinstance(obj, (int, float, str, bool)) or obj is None else []


def _generic(res: Any) -> list[str]:
    leaves = _leaves(res)
    lines = ["| result | value |", "|---|---:|"]
    for k, v in leaves[:MAX_GENERIC_ROWS]:
        lines.append(f"| {k} | {_n(v, 4) if isinstance(v, float) else v} |")
    if len(leaves) > MAX_GENERIC_ROWS:
        lines.append(f"| … {len(leaves) - MAX_GENERIC_ROWS} more in the JSON file | |")
    return lines


LAYOUTS = {"scoring": _scoring, "step": _step, "sweep": _sweep}


def render_file(path: Path, base: Path) -> list[str]:
    """Markdown lines for one bench result file (its path shown relative to ``base``)."""
    d = json.loads(Path(path).read_text())
    name = str(d.get("bench") or Path(path).stem)
    rel = Path(os.path.relpath(Path(path).resolve(), Path(base).resolve())).as_posix()
    lines = [f"#### `{name}` — [`{rel}`]({rel})", ""] + provenance(d) + [""]
    return lines + LAYOUTS.get(name, _generic)(d.get("results", {})) + [""]


def render(bench_dir: Path, base: Path) -> str:
    """All of ``bench_dir/*.json``, sorted by file name, for a Markdown file in ``base``."""
    files = sorted(Path(bench_dir).glob("*.json"))
    if not files:
        return "No bench results yet (`qtbench bench` writes them to results/bench).\n"
    lines = ["Generated by `qtbench report` from the JSON files; numbers are medians of the timed rounds "
             "(raw timings in the files). Rerun a bench with its command, then `qtbench report`.", ""]
    for f in files:
        lines += render_file(f, base)
    return "\n".join(lines).rstrip("\n") + "\n"
