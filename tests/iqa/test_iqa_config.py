"""The ``iqa`` config section (presets, compose-time checks) and ``qtbench weights``."""

import urllib.error

import pytest
import torch

from qtbench.cli.main import main
from qtbench.config.compose import compose_run
from qtbench.errors import UserError
from qtbench.iqa import weights
from qtbench.iqa.presets import PRESETS


@pytest.mark.slow
def test_auto_preset_resolves_per_scale():
    smoke = compose_run("mt", "dehaze", scale="smoke")
    assert smoke.iqa.preset == "offline" and smoke.iqa.block_size == 16
    paper = compose_run("mt", "dehaze", scale="paper")
    assert paper.iqa.preset == "paper" and paper.iqa.block_size == 144 and paper.iqa.niqe_fit.patch == 96
    explicit = compose_run("mt", "dehaze", scale="smoke", overrides=["iqa.preset=paper"])
    assert explicit.iqa.preset == "paper"


def test_paper_preset_is_the_official_ensemble():
    p = {m.name: m for m in PRESETS["paper"]}
    assert {k: m.weight for k, m in p.items()} == {"musiq": 0.4, "clipiqa": 0.2, "brisque": 0.4}
    assert (p["brisque"].lo, p["brisque"].hi, p["brisque"].lower_better, p["brisque"].floor) == (0, 100, True, 0.0)
    assert (p["musiq"].lo, p["musiq"].hi, p["musiq"].clamp) == (0, 100, False)


@pytest.mark.parametrize(
    "override, match",
    [
        ("iqa.members=[{name: piqee, weight: 1.0}]", "did you mean piqe"),
        ("iqa.members=[{name: piqe, weight: -0.5}]", "weights must be >= 0"),
        ("iqa.members=[{name: piqe},{name: piqe}]", "listed twice"),
        ("iqa.preset=fancy", "unknown iqa.preset"),
        ("iqa.niqe_fit.patch=15", "must be even"),
    ],
)
@pytest.mark.slow
def test_bad_iqa_config_fails_at_compose(override, match):
    with pytest.raises(UserError, match=match):
        compose_run("mt", "dehaze", scale="smoke", overrides=[override])


def test_custom_members_compose():
    cfg = compose_run("mt", "dehaze", scale="smoke",
                      overrides=["iqa.members=[{name: piqe, weight: 0.5}, {name: degprob, weight: 0.5}]"])
    assert [m.name for m in cfg.iqa.members] == ["piqe", "degprob"]


def test_weights_verify_reports_missing_and_mismatch(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    assert main(["weights", "verify", "--preset", "paper"]) == 1
    out = capsys.readouterr().out
    assert "musiq_koniq_ckpt-e95806b9.pth" in out and "missing" in out and "RN50.pt" in out
    assert main(["weights", "verify", "--metric", "piqe"]) == 0
    f = tmp_path / "hub" / "pyiqa" / "musiq_koniq_ckpt-e95806b9.pth"
    f.parent.mkdir(parents=True)
    torch.save({"not": "the real weights"}, f)
    assert main(["weights", "verify", "--metric", "musiq"]) == 1
    assert "mismatch" in capsys.readouterr().out


def test_weights_fetch_without_network_is_one_line_exit_2(tmp_path, monkeypatch, capsys):
    import pyiqa.utils.download_util as dl

    def offline(url, *a, **k):
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(dl, "download_url_to_file", offline)  # what pyiqa's load_file_from_url calls
    assert main(["weights", "fetch", "--metric", "musiq", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("qtbench: error: could not download") and "\n" not in err
    assert not (tmp_path / "hub" / "pyiqa" / "musiq_koniq_ckpt-e95806b9.pth").exists()


def test_manifest_lists_the_paper_metrics():
    for metric in weights.preset_metrics("paper"):
        files = weights.metric_files(metric)
        assert files and all(f.hash_kind in ("sha256", "sha256_prefix", "none", "derived") for f in files)
        # a file converted from the package index is pinned by its source's full sha256
        assert all(f.source["member_sha256"] and len(f.source["archive_sha256"]) == 64 for f in files if f.source)
    assert weights.preset_metrics("offline") == ["piqe"]
    assert weights.preset_metrics("classic") == ["niqe", "brisque"]
