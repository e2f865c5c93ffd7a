"""`qtbench table / plot / report` on a real MLflow store filled by a real (tiny, smoke-scale) sweep.

One module-scoped sweep: mt and mt+qcond (2 seeds), srconly as a control, and an oracle cell made to diverge
(lr 1e6) so the table has a failed row. A copy of the store with one run deleted gives a missing cell.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli

pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")

SWEEP = """\
# Command: qtbench sweep rep.yaml --launcher debug
name: rep
scale: smoke
base: [pl.iters=4, eval.grid_images=1]
axes:
  methods: [mt, mt+qcond]
  seeds: [0, 1]
include:
  - {method: srconly}
  - {method: oracle, overrides: [pl.lr=1e6, pl.iters=40]}
table:
  title: Report test
  rows: method
  columns: metric
  labels: {mt+qcond: MT + score injection}
  metrics:
    - {key: delta/student-base/target_psnr, label: "ΔPSNR (dB)", higher_better: true}
    - {key: student/target_piqe, label: PIQE, higher_better: false}
    - {key: student/target_ssim, label: SSIM vs base, paired: true}
  paired: base
  baseline: mt
  controls: [srconly, oracle]
  reference: {mt: {delta/student-base/target_psnr: 0.1}}
  formats: [md, tex, csv]
"""
METHODS = {"mt": "mt", "mt+qcond": "MT + score injection", "srconly": "srconly"}


@pytest.fixture(scope="module")
def swept(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("report")
    (root / "rep.yaml").write_text(SWEEP)
    out = run_cli("sweep", "rep.yaml", "--launcher", "debug", "--runs-dir", "runs", cwd=root, timeout=900)
    assert out.returncode == 1, out.stdout + out.stderr  # the oracle cells fail by design
    assert out.stdout.count("done    cell") == 6 and out.stdout.count("FAILED  cell") == 2, out.stdout
    return root


def _client(root: Path):
    from mlflow.tracking import MlflowClient

    return MlflowClient(f"sqlite:///{root.resolve()}/runs/mlflow.db")


def _finished(root: Path) -> dict[str, list]:
    c = _client(root)
    exp = c.get_experiment_by_name("qtbench-sweep-rep")
    out: dict[str, list] = {}
    for r in c.search_runs([exp.experiment_id], "tags.`qtbench.sweep` = 'rep' and attributes.status = 'FINISHED'"):
        if r.data.tags.get("qtbench.role") != "sweep":
            out.setdefault(r.data.tags["qtbench.method"], []).append(r)
    return out


def _csv(path: Path) -> dict[tuple[str, str], dict]:
    return {(r["row"], r["metric"]): r for r in csv.DictReader(io.StringIO(path.read_text()))}


@pytest.mark.slow
def test_table_values_match_mlflow_and_rebuild_byte_for_byte(swept):
    res = swept / "results" / "tables"
    out = run_cli("table", "rep.yaml", "--runs-dir", "runs", cwd=swept)
    assert out.returncode == 0, out.stderr
    first = {p.name: p.read_bytes() for p in res.iterdir()}
    assert set(first) == {"rep.md", "rep.tex", "rep.csv", "rep.json"}
    again = run_cli("table", "rep", "--runs-dir", "runs", "--results", "again", cwd=swept)
    assert again.returncode == 2 and "unknown sweep 'rep'" in again.stderr  # a bare name is looked up in ./sweeps
    again = run_cli("table", "rep.yaml", "--runs-dir", "runs", "--results", "again", cwd=swept)
    assert again.returncode == 0, again.stderr
    assert {p.name: p.read_bytes() for p in (swept / "again" / "tables").iterdir()} == first

    rows = _csv(res / "rep.csv")
    runs = _finished(swept)
    assert sorted(runs) == ["mt", "mt+qcond", "srconly"] and all(len(v) == 2 for v in runs.values())
    for method, label in METHODS.items():
        metrics = [r.data.metrics for r in runs[method]]
        for key in ("delta/student-base/target_psnr", "student/target_piqe"):
            row = rows[(label, key)]
            assert float(row["mean"]) == pytest.approx(np.mean([m[key] for m in metrics]), abs=1e-12)
            assert float(row["std"]) == pytest.approx(np.std([m[key] for m in metrics], ddof=1), abs=1e-12)
            assert row["found"] == "2" and row["expected"] == "2"
        paired = [m["student/target_ssim"] - m["base/target_ssim"] for m in metrics]
        assert float(rows[(label, "student/target_ssim")]["mean"]) == pytest.approx(np.mean(paired), abs=1e-12)
    # baseline difference: mt+qcond - mt, seed by seed
    by_seed = {m: {r.data.tags["qtbench.seed"]: r.data.metrics["delta/student-base/target_psnr"] for r in runs[m]}
               for m in ("mt", "mt+qcond")}
    vs = np.mean([by_seed["mt+qcond"][s] - by_seed["mt"][s] for s in ("0", "1")])
    assert float(rows[("MT + score injection", "delta/student-base/target_psnr")]["vs_mean"]) == pytest.approx(vs)
    ref = rows[("mt", "delta/student-base/target_psnr")]
    assert float(ref["minus_reference"]) == pytest.approx(float(ref["mean"]) - 0.1)
    # best/second among mt and mt+qcond only (srconly is a control)
    psnr = {lab: rows[(lab, "delta/student-base/target_psnr")] for lab in METHODS.values()}
    assert sorted(psnr[k]["mark"] for k in ("mt", "MT + score injection")) == ["best", "second"]
    assert psnr["srconly"]["mark"] == ""
    # the failed cells still render, marked
    md = (res / "rep.md").read_text()
    assert "| *oracle* | — (0/2; 2 failed) |" in md and "Failed runs: oracle/dehaze/s0, oracle/dehaze/s1." in md
    assert "ΔPSNR (dB) ↑" in md and "PIQE ↓" in md and "Paired difference against mt" in md
    tex = (res / "rep.tex").read_text()
    assert r"\toprule" in tex and r"\bottomrule" in tex and r"\mathbf{" in tex and r"\underline{" in tex
    meta = json.loads((res / "rep.json").read_text())
    assert meta["seeds"] == [0, 1] and meta["failed"] == 2 and meta["scale"] == ["smoke"]
    # the parent run's qtbench.command tag: the exact command line, named qtbench (run_cli uses python -m)
    command = "qtbench sweep rep.yaml --launcher debug --runs-dir runs"
    assert meta["commands"]["sweep"] == command
    client = _client(swept)
    parent = client.search_runs([client.get_experiment_by_name("qtbench-sweep-rep").experiment_id],
                                "tags.`qtbench.role` = 'sweep'")
    assert [r.data.tags.get("qtbench.command") for r in parent] == [command]


@pytest.mark.slow
def test_missing_cell_renders_with_runs_found(swept, tmp_path):
    store = tmp_path / "runs"
    store.mkdir()
    shutil.copy(swept / "runs" / "mlflow.db", store / "mlflow.db")  # artifacts stay where the runs put them
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{store}/mlflow.db")
    client.delete_run(_finished(swept)["mt+qcond"][0].info.run_id)
    shutil.copy(swept / "rep.yaml", tmp_path / "rep.yaml")
    out = run_cli("table", "rep.yaml", "--runs-dir", "runs", "--format", "md,csv", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    md = (tmp_path / "results/tables/rep.md").read_text()
    line = next(ln for ln in md.splitlines() if ln.startswith("| MT + score injection |"))
    assert "(1/2)" in line and "**" not in line and "<u>" not in line  # incomplete: not ranked
    assert not (tmp_path / "results/tables/rep.tex").exists()


@pytest.mark.slow
def test_a_metric_no_finished_run_reports_is_na_not_missing(swept, tmp_path):
    # the wheels pool has no real set: finished runs carry no real-set scores, which is "n/a", not "no run"
    out = run_cli("table", "rep.yaml", "--runs-dir", "runs", "--format", "md,tex", "--results", str(tmp_path),
                  "--metric", "student/real_piqe,delta/student-base/target_psnr", cwd=swept)
    assert out.returncode == 0, out.stderr
    md = (tmp_path / "tables/rep.md").read_text()
    line = next(ln for ln in md.splitlines() if ln.startswith("| mt |"))
    assert line.startswith("| mt | n/a |") and "(0/2" not in line
    assert "| *oracle* | — (0/2; 2 failed) |" in md  # failed runs stay "missing"
    assert "n/a: the finished runs do not report this metric" in md
    assert "n/a" in (tmp_path / "tables/rep.tex").read_text()
    out = run_cli("table", "rep.yaml", "--runs-dir", "runs", "--format", "csv", "--results", str(tmp_path),
                  "--metric", "student/real_piqe", cwd=swept)
    rows = _csv(tmp_path / "tables/rep.csv")
    assert rows[("mt", "student/real_piqe")]["found"] == "0"
    assert rows[("mt", "student/real_piqe")]["unmeasured"] == "2"  # finished, but no real set to score


@pytest.mark.slow
def test_plot_writes_the_figures(swept):
    out = run_cli("plot", "rep.yaml", "--runs-dir", "runs", cwd=swept)
    assert out.returncode == 0, out.stderr
    for kind in ("bars", "levels", "pl_levels", "curves"):
        p = swept / "results" / "figures" / f"rep_{kind}.png"
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", kind


@pytest.mark.slow
def test_report_rewrites_only_between_markers(swept, tmp_path):
    results = tmp_path / "results"
    shutil.copytree(swept / "results" / "tables", results / "tables")
    (results / "bench").mkdir()
    shutil.copy(Path(__file__).resolve().parents[2] / "results/bench/step.json", results / "bench/step.json")
    (results / "bench/other.json").write_text(json.dumps({"bench": "other", "results": {"expand_s": 1.5}}))
    head = "# Bench\n\nHand-written intro.\n\n<!-- bench:start -->\nhand bench text\n<!-- bench:end -->\n\n"
    mid = "\n\nMore hand-written text.\n\n"
    doc = tmp_path / "BENCHMARKS.md"
    doc.write_text(head + "<!-- report:tables:start -->\nstale\n<!-- report:tables:end -->" + mid)
    out = run_cli("report", "--file", str(doc), "--results", str(results), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    text = doc.read_text()
    assert text.startswith(head + "<!-- report:tables:start -->\n### Report test\n") and "stale" not in text
    after = text.split("<!-- report:tables:end -->", 1)[1]
    assert after.startswith(mid) and "<!-- report:bench:start -->" in after  # missing sections appended
    # The expected row comes from the copied file, so rerunning `qtbench bench` never breaks this test.
    full = json.loads((results / "bench/step.json").read_text())["results"]["rows"]["mt+qualiteacher"]
    row = f"| mt+qualiteacher | {full['s_per_iter']:.3f} | {full['ratio_to_mt']:.2f} |"
    assert row in text and "| expand_s | 1.5000 |" in text
    assert "qtbench table rep --format md,tex,csv" in text and "seeds 0, 1" in text
    again = run_cli("report", "--file", str(doc), "--results", str(results), "--check", cwd=tmp_path)
    assert again.returncode == 0 and "up to date" in again.stdout


@pytest.mark.slow
def test_errors_are_one_line(tmp_path):
    (tmp_path / "s.yaml").write_text(SWEEP.replace("name: rep", "name: nothing"))
    for args, msg in ((("table", "nope"), "unknown sweep 'nope'"),
                      (("table", "s.yaml", "--runs-dir", "runs"), "no MLflow store"),
                      (("plot", "s.yaml", "--runs-dir", "runs"), "no MLflow store")):
        out = run_cli(*args, cwd=tmp_path)
        assert out.returncode == 2 and msg in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr
    from mlflow.tracking import MlflowClient

    (tmp_path / "runs").mkdir()
    MlflowClient(f"sqlite:///{tmp_path}/runs/mlflow.db").search_experiments()  # an empty store
    out = run_cli("table", "s.yaml", "--runs-dir", "runs", cwd=tmp_path)
    assert out.returncode == 2 and "no runs of sweep 'nothing'" in out.stderr, out.stderr


@pytest.mark.slow
def test_archive_carries_a_sweep_to_another_runs_folder(swept, tmp_path):
    """Export -> import elsewhere: the same table bytes, the same metric histories, finished cells count as done."""
    arch = tmp_path / "arch"
    out = run_cli("archive", "export", "rep", "--runs-dir", "runs", "--to", str(arch), cwd=swept)
    assert out.returncode == 0, out.stderr
    assert "exported 8 finished or failed runs of sweep rep" in out.stdout  # 6 done + 2 failed oracle cells
    assert len([p for p in arch.rglob("*.json") if p.name != "sweep.json"]) == 8
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(swept / "rep.yaml", other / "rep.yaml")
    imp = run_cli("archive", "import", str(arch), "--runs-dir", "runs", cwd=other)
    assert imp.returncode == 0 and "imported 8 runs" in imp.stdout, imp.stdout + imp.stderr
    twice = run_cli("archive", "import", str(arch), "--runs-dir", "runs", cwd=other)
    assert twice.returncode == 0 and "imported 0 runs" in twice.stdout and "8 already there" in twice.stdout

    tables = {}
    for name, root in (("orig", swept), ("imported", other)):
        t = run_cli("table", "rep.yaml", "--runs-dir", "runs", "--results", str(tmp_path / name), cwd=root)
        assert t.returncode == 0, t.stderr
        tables[name] = {p.name: p.read_bytes() for p in (tmp_path / name / "tables").iterdir()}
    meta = {k: json.loads(tables[k].pop("rep.json")) for k in tables}
    assert tables["imported"] == tables["orig"] and set(tables["orig"]) == {"rep.md", "rep.tex", "rep.csv"}
    assert meta["imported"] == meta["orig"]  # provenance too: the imported parent names the original one

    src, dst = _client(swept), _client(other)
    orig = {r.data.tags["config_hash"]: r for r in src.search_runs(
        [e.experiment_id for e in src.search_experiments()], "tags.config_hash != ''")
        if r.data.tags.get("qtbench.role") != "sweep"}
    moved = dst.search_runs([e.experiment_id for e in dst.search_experiments()], "tags.`qtbench.imported_from` != ''")
    moved = [r for r in moved if r.data.tags.get("qtbench.role") != "sweep"]
    assert len(moved) == 8
    curves = 0
    for r in moved:
        o = orig[r.data.tags["config_hash"]]
        assert r.data.tags["qtbench.imported_from"] == o.info.run_id and r.info.status == o.info.status
        assert r.data.params == o.data.params and r.data.metrics == o.data.metrics
        for key in [k for k in o.data.metrics if k.startswith(("train/", "trajectory/"))][:5]:  # curves
            hist = [(m.step, m.value) for m in src.get_metric_history(o.info.run_id, key)]
            assert sorted(hist) == sorted((m.step, m.value) for m in dst.get_metric_history(r.info.run_id, key))
            curves += len(hist) > 1
    assert curves >= 6  # every finished run has multi-step curves

    dry = run_cli("sweep", "rep.yaml", "--launcher", "debug", "--runs-dir", "runs", "--dry-run", cwd=other)
    assert "6 done" in dry.stdout and "2 pending" in dry.stdout, dry.stdout  # failed cells get no run folder

    # exported again from the importing store, to a new folder and over the archive itself: the same records,
    # byte for byte (original run ids and parents, no import tags), so a carried archive does not churn
    records = {p.relative_to(arch): p.read_bytes() for p in arch.rglob("*.json") if p.name != "sweep.json"}
    parent_tags = json.loads((arch / "sweep.json").read_text())["parent_tags"]
    again = tmp_path / "again"
    for dest in (again, arch):
        out = run_cli("archive", "export", "rep", "--runs-dir", "runs", "--to", str(dest), cwd=other)
        assert out.returncode == 0, out.stderr
        assert {p.relative_to(dest): p.read_bytes() for p in dest.rglob("*.json") if p.name != "sweep.json"} == records
        assert json.loads((dest / "sweep.json").read_text())["parent_tags"] == parent_tags  # no import tag either


def test_archive_import_refuses_a_record_that_names_a_folder_outside(tmp_path):
    arch = tmp_path / "arch"
    (arch / "x").mkdir(parents=True)
    (arch / "sweep.json").write_text(json.dumps({"format": "qtbench-run-archive/1", "name": "rep", "sweep": None}))
    bad = {"format": "qtbench-run-archive/1", "hash": "ab" * 32, "run_id": "r1", "status": "FINISHED",
           "labels": {"task": "dehaze", "method": "../../escape", "seed": 0}}
    (arch / "x" / "s0-abababababab.json").write_text(json.dumps(bad))
    out = run_cli("archive", "import", str(arch), "--runs-dir", "runs", cwd=tmp_path)
    assert out.returncode == 2 and "not a plain name" in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists() and not (tmp_path / "escape").exists()
