"""Try bad inputs and inject faults, each as a real ``qtbench`` subprocess, and record what happened.

Usage (from the repository root; Linux, root for the mount-based faults, ~10 minutes on 2 cores):

    python scripts/bad_inputs.py [--work /tmp/qtbench-bad-inputs] [--md docs/robustness.md]
                                 [--json results/checks/bad_inputs.json]

The contract for a bad input: exit code 2, exactly one line on stderr (``qtbench...: error: ...``), no traceback,
and nothing written (the watched folders are byte-for-byte unchanged), and no code from a crafted file ran (its
marker file does not exist). A few cases are *accepted* inputs that used to fail (``--runs-dir`` with unusual
characters, a stale lock file, the smallest image the network pads) or must warn (a non-loopback server): their
contract is stated in the case. The script writes a markdown table and a JSON file of every case. Not a test: it
trains one smoke-scale run (cached afterwards) and needs a few minutes; tests/test_safety.py covers the same
behaviour in CI.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

QT = [sys.executable, "-m", "qtbench.cli.main"]
SMOKE = ["--method", "mt", "--task", "dehaze", "--scale", "smoke", "--no-progress", "runtime.threads=1"]


class Payload:
    """Unpickling runs ``touch MARKER`` (a real code-execution payload)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@dataclass
class Case:
    group: str
    what: str
    args: list[str]
    expect: str = "error"  # error | ok | warn
    watch: list[Path] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    marker: Path | None = None
    must_say: str = ""  # a word the message must contain (the remedy or the cause)
    setup: object = None  # callable run just before the case
    check: object = None  # callable(proc) -> str problem or "" (extra checks for ok/warn cases)


def snapshot(paths: list[Path]) -> dict[str, tuple[int, int]]:
    out = {}
    for root in paths:
        if not root.exists():
            out[str(root)] = (-1, -1)
            continue
        items = [root] if root.is_file() else [p for p in root.rglob("*")]
        for p in items:
            if p.is_file():
                st = p.stat()
                out[str(p)] = (st.st_size, st.st_mtime_ns)
    return out


def images(folder: Path, sizes: list[tuple[int, int]], seed: int = 0, prefix: str = "im") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i, (w, h) in enumerate(sizes):
        Image.fromarray((rng.random((h, w, 3)) * 255).astype(np.uint8)).save(folder / f"{prefix}{i}.png")
    return folder


def run(args: list[str], env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([*QT, *args], capture_output=True, text=True, timeout=timeout, env={**os.environ, **env})


def judge(case: Case, proc: subprocess.CompletedProcess, before: dict, after: dict) -> tuple[bool, str]:
    err = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    problems = []
    if "Traceback" in proc.stderr:
        problems.append("traceback")
    if case.marker is not None and case.marker.exists():
        problems.append("CODE RAN (marker created)")
    if case.expect == "error":
        if proc.returncode != 2:
            problems.append(f"rc {proc.returncode}")
        if len(err) != 1 or ": error: " not in err[0]:
            problems.append(f"{len(err)} stderr lines")
        if before != after:
            problems.append("files written")
        if case.must_say and case.must_say.lower() not in proc.stderr.lower():
            problems.append(f"message lacks {case.must_say!r}")
    else:
        if proc.returncode != 0:
            problems.append(f"rc {proc.returncode}")
        if case.expect == "warn" and "warning" not in proc.stderr:
            problems.append("no warning")
    if case.check is not None:
        extra = case.check(proc)
        if extra:
            problems.append(extra)
    return not problems, "; ".join(problems)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", default="/tmp/qtbench-bad-inputs")
    ap.add_argument("--md", default="docs/robustness.md")
    ap.add_argument("--json", default="results/checks/bad_inputs.json")
    a = ap.parse_args()
    work = Path(a.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    runs = work / "runs"
    t0 = time.time()
    print("training the smoke-scale run the cases use...", flush=True)
    proc = run(["run", *SMOKE, "--runs-dir", str(runs)], {})
    assert proc.returncode == 0, proc.stderr
    rd = next(runs.glob("dehaze/mt/s0-*"))
    q = work / "q"  # a quilt of inputs
    good = images(q / "good", [(48, 40), (40, 40), (56, 48)])
    pairs = q / "pairs"
    images(pairs / "gt", [(48, 40), (40, 40)], seed=1)
    images(pairs / "input", [(48, 40), (40, 40)], seed=2)
    tiny = images(q / "tiny", [(48, 40), (40, 40), (40, 48)])
    Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(tiny / "z.png")
    big = images(q / "big", [(40, 40)])
    Image.new("RGB", (8000, 8000)).save(big / "huge.png")
    corrupt = images(q / "corrupt", [(40, 40)])
    (corrupt / "broken.png").write_bytes((good / "im0.png").read_bytes()[:60])
    empty = q / "empty"
    empty.mkdir()
    eight = images(q / "eight", [(40, 40), (8, 8)])
    unmatched = q / "unmatched"
    images(unmatched / "gt", [(40, 40)], seed=1)
    images(unmatched / "input", [(40, 40), (40, 40)], seed=2)
    mismatch = q / "mismatch"
    images(mismatch / "gt", [(40, 40)], seed=1)
    images(mismatch / "input", [(48, 40)], seed=2)
    afile = q / "afile"
    afile.write_text("not a folder")
    marker = work / "MARKER"

    def fake_run(name: str, ckpt_bytes: bytes | None = None, payload: bool = False) -> Path:
        d = work / "fake" / name
        d.mkdir(parents=True)
        shutil.copy(rd / "config.yaml", d / "config.yaml")
        if payload:
            torch.save({"step": 1, "student": Payload(marker), "teacher": {}}, d / "checkpoint.pt")
        elif ckpt_bytes is not None:
            (d / "checkpoint.pt").write_bytes(ckpt_bytes)
        return d

    ckpt = (rd / "checkpoint.pt").read_bytes()
    evil = fake_run("evil", payload=True)
    trunc = fake_run("trunc", ckpt[: len(ckpt) // 3])
    emptyck = fake_run("emptyck", b"")
    textck = fake_run("textck", b"hello, not a checkpoint\n")
    noconf = work / "fake" / "noconf"
    noconf.mkdir(parents=True)
    (noconf / "checkpoint.pt").write_bytes(ckpt)
    out = work / "out"
    js = work / "json"
    tuned_garbage = q / "tuned.yaml"
    tuned_garbage.write_text(": : [\n")

    def sweep(name: str) -> str:
        p = q / f"sweep-{abs(hash(name))}.yaml"
        p.write_text(f"name: {json.dumps(name)}\naxes:\n  methods: [mt]\n")
        return str(p)

    garbage_sweep = q / "garbage.yaml"
    garbage_sweep.write_text("axes: [\n")
    cases: list[Case] = []
    E = lambda *x, **k: cases.append(Case(*x, **k))  # noqa: E731

    # -- composition: numbers, names, keys -------------------------------------------------------------------------
    rr = work / "r-refused"
    for ov in ["pl.lr=inf", "pl.lr=nan", "pl.lr=-1", "pl.lr=0", "base.lr=inf", "pl.lr_min=-1", "pl.batch_target=0",
               "pl.batch_source=0", "base.batch_size=0", "eval.batch_size=0", "task.data.image_size=100000",
               "task.data.image_size=8", "pl.iters=-1", "base.iters=-5", "pl.ema_decay=1.5", "pl.ema_decay=nan",
               "pl.w_pl=-1", "pl.w_sup=-inf", "pl.crop=17", "pl.nonexistent=1", "pl.iters=abc", "strong.blur_prob=2",
               "strong.contrast=[2,1]", "runtime.device=tpu", "pl.optimizer=sgd", "pl.target_crops=diag",
               "seed=1", "pl.iters", "pl.checkpoint_every=0"]:
        E("config", f"`run {ov}`", ["run", *SMOKE, "--runs-dir", str(rr), ov], watch=[rr])
    for flag, val in [("--method", "nosuch"), ("--method", "mt+pref"), ("--method", "mt++qcond"), ("--task", "nosuch"),
                      ("--scale", "huge"), ("--seed", "abc"), ("--launcher", "nosuch")]:
        E("config", f"`run {flag} {val}`", ["run", *SMOKE, "--runs-dir", str(rr), flag, val], watch=[rr])
    E("config", "unknown sub-command", ["nosuch"], watch=[rr])
    E("config", "unknown flag", ["run", "--bogus"], watch=[rr])
    E("config", "`--tuned` missing file", ["run", *SMOKE, "--runs-dir", str(rr), "--tuned", str(q / "nope.yaml")],
      watch=[rr])
    E("config", "`--tuned` a folder", ["run", *SMOKE, "--runs-dir", str(rr), "--tuned", str(q)], watch=[rr])
    E("config", "`--tuned` garbage YAML", ["run", *SMOKE, "--runs-dir", str(rr), "--tuned", str(tuned_garbage)],
      watch=[rr])
    E("config", "`--runs-dir` is a file", ["run", *SMOKE, "--runs-dir", str(afile)], watch=[afile])
    E("config", "`--runs-dir` under a file", ["run", *SMOKE, "--runs-dir", str(afile / "runs")], watch=[afile])
    E("data", "`task.data.pool=nosuch`", ["run", *SMOKE, "--runs-dir", str(rr), "task.data.pool=nosuch"], watch=[rr])
    E("data", "`task.data.test=` missing folder", ["run", *SMOKE, "--runs-dir", str(rr),
                                                  f"task.data.test={q / 'nope'}"], watch=[rr])
    E("data", "`task.data.paired=` empty folder", ["run", *SMOKE, "--runs-dir", str(rr), f"task.data.paired={empty}"],
      watch=[rr])
    weird = work / "rüns ,=a'[b]${oc.env:HOME}"
    E("paths", "`--runs-dir` with unicode , = ' [ ] ${...} (accepted, literal)", ["config", *SMOKE[:6],
      "--runs-dir", str(weird)], expect="ok",
      check=lambda p: "" if f"runs_dir: {weird}" in p.stdout else "runs_dir not literal")

    # -- eval ----------------------------------------------------------------------------------------------------------
    ev = ["eval", "--checkpoint"]
    E("eval", "checkpoint path missing", [*ev, str(work / "nope"), "--data", str(good)], watch=[rd])
    E("eval", "folder without config.yaml", [*ev, str(noconf), "--data", str(good)], watch=[noconf])
    E("eval", "crafted pickle checkpoint (`__reduce__` payload)", [*ev, str(evil), "--data", str(good)],
      watch=[evil], marker=marker, must_say="refused")
    E("eval", "truncated checkpoint", [*ev, str(trunc), "--data", str(good)], watch=[trunc], must_say="truncated")
    E("eval", "empty checkpoint file", [*ev, str(emptyck), "--data", str(good)], watch=[emptyck])
    E("eval", "text file as checkpoint", [*ev, str(textck), "--data", str(good)], watch=[textck])
    E("eval", "`--data` missing", [*ev, str(rd), "--data", str(q / "nope")], watch=[rd])
    E("eval", "`--data` empty folder", [*ev, str(rd), "--data", str(empty)], watch=[rd])
    E("eval", "`--data` with a truncated PNG", [*ev, str(rd), "--data", str(corrupt)], watch=[rd])
    E("eval", "1x1 image", [*ev, str(rd), "--data", str(tiny)], watch=[rd])
    E("eval", "8x8 image (below the metrics' windows)", [*ev, str(rd), "--data", str(eight)], watch=[rd])
    E("eval", "8000x8000 image", [*ev, str(rd), "--data", str(big)], watch=[rd], must_say="--max-pixels")
    E("eval", "`--json` is a folder", [*ev, str(rd), "--data", str(good), "--json", str(q)], watch=[q])
    E("eval", "`--json` under a file", [*ev, str(rd), "--data", str(good), "--json", str(afile / "x.json")],
      watch=[afile])
    E("eval", "`--model nosuch`", [*ev, str(rd), "--data", str(good), "--model", "nosuch"], watch=[rd])
    E("eval", "`--level 99` (not conditioned)", [*ev, str(rd), "--data", str(good), "--level", "99"], watch=[rd])
    E("eval", "`--level -1`", [*ev, str(rd), "--data", str(good), "--level", "-1"], watch=[rd])
    E("eval", "`--all-levels` on an unconditioned run", [*ev, str(rd), "--data", str(good), "--all-levels"],
      watch=[rd])
    E("eval", "`--level` with `--all-levels`", [*ev, str(rd), "--data", str(good), "--all-levels", "--level", "1"],
      watch=[rd])
    E("eval", "`--nr-metrics nosuch`", [*ev, str(rd), "--data", str(good), "--nr-metrics", "nosuch"], watch=[rd])
    E("eval", "`--nr-metrics psnr` (full-reference)", [*ev, str(rd), "--data", str(good), "--nr-metrics", "psnr"],
      watch=[rd])
    E("eval", "`--data real` on the wheels pool", [*ev, str(rd), "--data", "real"], watch=[rd])
    E("eval", "`--max-pixels 0`", [*ev, str(rd), "--data", str(good), "--max-pixels", "0"], watch=[rd])
    E("eval", "paired folder with unmatched names", [*ev, str(rd), "--data", str(unmatched)], watch=[rd])
    E("eval", "paired folder with size mismatch", [*ev, str(rd), "--data", str(mismatch)], watch=[rd])
    E("eval", "`--model base` with the base model not cached", [*ev, str(rd), "--data", str(good), "--model", "base"],
      env={"QTBENCH_HOME": str(work / "empty-home")}, watch=[rd], must_say="cache")
    E("eval", "`--json` with several checkpoints", [*ev, str(rd), str(rd), "--data", str(good), "--json",
      str(js / "x.json")], watch=[js])
    E("eval", "`--log` on a folder", [*ev, str(rd), "--data", str(good), "--log"], watch=[rd])

    # -- restore -------------------------------------------------------------------------------------------------------
    rs = ["restore", "--checkpoint"]
    E("restore", "3 good images + one 1x1", [*rs, str(rd), "--input", str(tiny), "--output", str(out)], watch=[out])
    E("restore", "8000x8000 image", [*rs, str(rd), "--input", str(big), "--output", str(out)], watch=[out])
    E("restore", "truncated PNG among good ones", [*rs, str(rd), "--input", str(corrupt), "--output", str(out)],
      watch=[out])
    E("restore", "`--output` = `--input`", [*rs, str(rd), "--input", str(good), "--output", str(good)], watch=[good])
    E("restore", "`--output` is a file", [*rs, str(rd), "--input", str(good), "--output", str(afile)], watch=[afile])
    E("restore", "`--output` under a file", [*rs, str(rd), "--input", str(good), "--output", str(afile / "o")],
      watch=[afile])
    E("restore", "outputs exist, no `--force`", [*rs, str(rd), "--input", str(good), "--output", str(pairs / "gt")],
      watch=[pairs])
    E("restore", "crafted pickle checkpoint", [*rs, str(evil), "--input", str(good), "--output", str(out)],
      watch=[out, evil], marker=marker, must_say="refused")
    E("restore", "`--input` missing", [*rs, str(rd), "--input", str(q / "nope"), "--output", str(out)], watch=[out])
    E("restore", "`--input` empty", [*rs, str(rd), "--input", str(empty), "--output", str(out)], watch=[out])
    E("restore", "`--level 5` (not conditioned)", [*rs, str(rd), "--input", str(good), "--output", str(out),
      "--level", "5"], watch=[out])
    E("restore", "`--model nosuch`", [*rs, str(rd), "--input", str(good), "--output", str(out), "--model", "x"],
      watch=[out])
    E("restore", "4x4 and 5x7 images (accepted: the smallest the network pads)",
      [*rs, str(rd), "--input", str(images(q / "small", [(4, 4), (5, 7)])), "--output", str(work / "out-small")],
      expect="ok")

    # -- names that become paths ------------------------------------------------------------------------------------------
    sr = work / "sweep-runs"
    for name in ["../../x", "/abs/x", "a/b", "..", ".hidden", "x\\y", "a b", "~root"]:
        E("names", f"sweep `name: {name}`", ["sweep", sweep(name), "--dry-run", "--runs-dir", str(sr)],
          watch=[sr, work.parent / "x"], must_say="plain name")
    E("names", "`sweep status ../../x`", ["sweep", "status", "../../x", "--runs-dir", str(sr)], watch=[sr])
    E("names", "sweep file missing", ["sweep", str(q / "nope.yaml"), "--dry-run", "--runs-dir", str(sr)], watch=[sr])
    E("names", "sweep file garbage YAML", ["sweep", str(garbage_sweep), "--dry-run", "--runs-dir", str(sr)],
      watch=[sr])
    E("names", "`tune report --study ../x`", ["tune", "report", "--study", "../x", "--runs-dir", str(sr),
      "--results-dir", str(work / "res")], watch=[sr, work / "res"])
    E("names", "`tune report --study a/b`", ["tune", "report", "--study", "a/b", "--runs-dir", str(sr),
      "--results-dir", str(work / "res")], watch=[sr, work / "res"])
    E("names", "`table` of a sweep named ../../x", ["table", sweep("../../x"), "--runs-dir", str(sr), "--results",
      str(work / "res")], watch=[sr, work / "res"])
    E("names", "`plot` of a sweep named ../../x", ["plot", sweep("../../x"), "--runs-dir", str(sr), "--results",
      str(work / "res")], watch=[sr, work / "res"])

    # -- faults -------------------------------------------------------------------------------------------------------------
    fr = work / "fault-runs"

    def clone_run(root: Path) -> Path:
        shutil.copytree(runs, root, dirs_exist_ok=True)
        d = next(root.glob("dehaze/mt/s0-*"))
        (d / "summary.json").unlink()  # unfinished: the next run resumes from the checkpoint
        return d

    def truncate_ckpt() -> None:
        d = clone_run(fr / "trunc")
        data = (d / "checkpoint.pt").read_bytes()
        (d / "checkpoint.pt").write_bytes(data[: len(data) // 2])

    E("faults", "truncated checkpoint on resume", ["run", *SMOKE, "--runs-dir", str(fr / "trunc")],
      setup=truncate_ckpt, must_say="--force",
      check=lambda p: "" if list((fr / "trunc").glob("dehaze/mt/*/checkpoint.pt.corrupt-*")) else "not kept aside")

    def evil_ckpt() -> None:
        d = clone_run(fr / "evil")
        torch.save({"step": 1, "student": Payload(marker)}, d / "checkpoint.pt")

    E("faults", "crafted checkpoint on resume (`--resume`)", ["run", *SMOKE, "--resume", "--runs-dir",
      str(fr / "evil")], setup=evil_ckpt, marker=marker, must_say="refused")
    E("faults", "crafted checkpoint on resume (plain rerun)", ["run", *SMOKE, "--runs-dir", str(fr / "evil")],
      marker=marker, must_say="refused")

    def corrupt_db() -> None:
        (fr / "db").mkdir(parents=True)
        (fr / "db" / "mlflow.db").write_bytes(os.urandom(8192))

    E("faults", "corrupt mlflow.db", ["run", *SMOKE, "--runs-dir", str(fr / "db")], setup=corrupt_db,
      must_say="--tracking-uri", watch=[fr / "db" / "mlflow.db"])

    def db_is_dir() -> None:
        (fr / "dbdir" / "mlflow.db").mkdir(parents=True)

    E("faults", "mlflow.db is a folder", ["run", *SMOKE, "--runs-dir", str(fr / "dbdir")], setup=db_is_dir,
      must_say="--tracking-uri")
    ro = work / "ro"
    ro.mkdir()
    mounted = []

    def ro_db() -> None:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(ro)], check=True)
        mounted.append(ro)
        shutil.copy(runs / "mlflow.db", ro / "mlflow.db")
        subprocess.run(["mount", "-o", "remount,ro", str(ro)], check=True)

    E("faults", "read-only mlflow.db (read-only file system)", ["run", *SMOKE, "--runs-dir", str(fr / "ro"),
      "--tracking-uri", f"sqlite:///{ro}/mlflow.db", "pl.iters=3"], setup=ro_db, must_say="read-only")
    E("faults", "`--runs-dir` on a read-only file system", ["run", *SMOKE, "--runs-dir", str(ro / "runs")],
      watch=[ro])
    E("faults", "`--tracking-uri` nonsense scheme", ["run", *SMOKE, "--runs-dir", str(fr / "uri"), "--tracking-uri",
      "nosuch://x", "pl.iters=2"])
    full = work / "full"
    full.mkdir()

    def disk_full() -> None:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1500k", "tmpfs", str(full)], check=True)
        mounted.append(full)

    E("faults", "disk full (1.5 MB file system)", ["run", *SMOKE, "--runs-dir", str(full)], setup=disk_full,
      must_say="disk is full")
    home2 = work / "home-evil"

    def evil_data_cache() -> None:
        shutil.copytree(os.environ.get("QTBENCH_HOME", Path.home() / ".cache" / "qtbench"), home2,
                        ignore=shutil.ignore_patterns("pools"), dirs_exist_ok=True)
        for p in (home2 / "data").glob("dehaze-*.pkl"):
            p.write_bytes(pickle.dumps({"x": Payload(marker)}))

    E("faults", "crafted data cache (`$QTBENCH_HOME/data/*.pkl`)", ["run", *SMOKE, "--runs-dir", str(fr / "h1"),
      "pl.iters=4"], setup=evil_data_cache, env={"QTBENCH_HOME": str(home2)}, marker=marker, must_say="refused")
    home3 = work / "home-evilbase"

    def evil_base_cache() -> None:
        shutil.copytree(os.environ.get("QTBENCH_HOME", Path.home() / ".cache" / "qtbench"), home3,
                        ignore=shutil.ignore_patterns("pools"), dirs_exist_ok=True)
        for p in (home3 / "base").glob("dehaze-*.pt"):
            torch.save({"state_dict": Payload(marker), "train_seconds": 1.0}, p)

    E("faults", "crafted cached base model", ["run", *SMOKE, "--runs-dir", str(fr / "h2"), "pl.iters=4"],
      setup=evil_base_cache, env={"QTBENCH_HOME": str(home3)}, marker=marker, must_say="refused")
    stale = work / "stale"

    def stale_lock() -> None:
        proc = run(["config", *SMOKE[:6], "--runs-dir", str(stale)], {})
        h = [ln for ln in proc.stdout.splitlines() if "config hash" in ln][0].split()[-1][:12]
        d = stale / "dehaze" / "mt" / f"s0-{h}"
        d.mkdir(parents=True)
        (d / ".job.lock").write_text(f"999999 {os.uname().nodename} 0\n")

    E("faults", "stale lock file of a dead process (accepted: taken over)", ["run", *SMOKE, "--runs-dir", str(stale),
      "pl.iters=3"], setup=stale_lock, expect="ok")
    E("faults", "`tracking serve --host 0.0.0.0` (must warn: no authentication)",
      ["tracking", "serve", "--detach", "--host", "0.0.0.0", "--port", "5917", "--runs-dir", str(work / "srv")],
      expect="warn")

    # -- run them ----------------------------------------------------------------------------------------------------------
    results = []
    try:
        for i, c in enumerate(cases):
            if c.setup is not None:
                c.setup()
            before = snapshot(c.watch)
            t = time.time()
            p = run(c.args, c.env)
            ok, why = judge(c, p, before, snapshot(c.watch))
            err = [ln for ln in p.stderr.strip().splitlines() if ln.strip()]
            out_last = (p.stdout.strip().splitlines() or [""])[-1]
            shown = out_last if c.expect == "ok" or not err else err[-1] if c.expect == "error" else err[0]
            results.append({"group": c.group, "case": c.what, "args": c.args, "expect": c.expect, "rc": p.returncode,
                            "stderr_lines": len(err), "message": shown[:400], "meets_contract": ok, "problems": why,
                            "seconds": round(time.time() - t, 1)})
            print(f"[{i + 1}/{len(cases)}] {'ok ' if ok else 'BAD'} rc={p.returncode} {c.what}: {shown[:150]}",
                  flush=True)
        # the lock: two identical runs at once (two real processes)
        lk = work / "lock"
        first = subprocess.Popen([*QT, "run", *SMOKE, "--runs-dir", str(lk), "pl.iters=100000"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(900):
            found = list(lk.glob("dehaze/mt/*/.job.lock"))
            if found and found[0].read_text().strip():
                break
            time.sleep(0.2)
        p = run(["run", *SMOKE, "--runs-dir", str(lk), "pl.iters=100000"], {})
        err = [ln for ln in p.stderr.strip().splitlines() if ln.strip()]
        ok = p.returncode == 2 and len(err) == 1 and f"pid {first.pid}" in err[0] and first.poll() is None
        results.append({"group": "faults", "case": "second identical `run` while the first trains", "args": [],
                        "expect": "error", "rc": p.returncode, "stderr_lines": len(err),
                        "message": (err[-1] if err else "")[:400], "meets_contract": ok,
                        "problems": "" if ok else "lock not enforced", "seconds": 0})
        print(f"[lock] {'ok ' if ok else 'BAD'} {err[-1] if err else ''}", flush=True)
        first.send_signal(signal.SIGKILL)
        first.wait()
    finally:
        for m in reversed(mounted):
            subprocess.run(["umount", str(m)], check=False)
        run(["tracking", "stop", "--runs-dir", str(work / "srv")], {})
    n_ok = sum(r["meets_contract"] for r in results)
    Path(a.json).parent.mkdir(parents=True, exist_ok=True)
    Path(a.json).write_text(json.dumps({"cases": results, "n": len(results), "meet_contract": n_ok,
                                        "seconds": round(time.time() - t0)}, indent=2) + "\n")
    write_md(Path(a.md), results, n_ok)
    print(f"{n_ok}/{len(results)} meet the contract; wrote {a.md} and {a.json}")
    return 0 if n_ok == len(results) else 1


def write_md(path: Path, results: list[dict], n_ok: int) -> None:
    lines = [
        "# Robustness: bad inputs and injected faults",
        "",
        "Generated by `python scripts/bad_inputs.py` (each case is a real `qtbench` subprocess; smoke scale, tiny",
        "images; the mount-based faults need root). The contract for a bad input: exit code 2, one line on stderr",
        "saying what is wrong and how to fix it, no traceback, the watched folders unchanged, and no code from a",
        "crafted file run (its marker file absent). Cases marked *ok* are inputs that must work (and *warn* must",
        "print a warning).",
        "",
        f"**{n_ok} of {len(results)} cases meet the contract.**",
        "",
        "| # | group | input or fault | expect | rc | stderr (last line) | contract |",
        "|---|---|---|---|---|---|---|",
    ]
    for i, r in enumerate(results, 1):
        msg = r["message"].replace("|", "\\|")
        lines.append(f"| {i} | {r['group']} | {r['case'].replace('|', '/')} | {r['expect']} | {r['rc']} | {msg} | "
                     f"{'met' if r['meets_contract'] else 'NOT MET: ' + r['problems']} |")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
