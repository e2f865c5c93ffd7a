"""Agreement of pyiqa's ``brisque`` / ``niqe`` (published models, via qtbench) with independent implementations.

Images: the 8 photos of the wheels pool, centre-cropped to 192 px, each clean and with two degradations
(Gaussian blur, Gaussian noise): 24 images. pyiqa's metrics are built the way qtbench builds them (files from
``qtbench weights fetch --preset classic``); the references are :mod:`classic_reference` fed the *source*
files (the libsvm text and the ``.npz``), not qtbench's converted ones.

Run as a script to write the numbers (Spearman, largest absolute difference, per image):

    python tests/classic_agreement.py results/checks/classic_agreement.json
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

sys.path.insert(0, str(Path(__file__).parent))
import classic_reference as ref  # noqa: E402

CROP = 192  # two whole 96-px NIQE blocks per side; small enough to keep pyiqa's NIQE at ~1 s per image
NOISE_SIGMA = 20.0  # grey levels
BLUR_RADIUS = 2.0  # px, PIL GaussianBlur


def images() -> list[tuple[str, np.ndarray]]:
    """``(name, uint8 HxWx3)`` of the 24 test images (deterministic)."""
    from qtbench.data.pools import wheels_pool

    out = []
    rng = np.random.default_rng(0)
    for photo in wheels_pool():
        im = Image.open(photo.path).convert("RGB")
        w, h = im.size
        s = min(CROP, w, h)
        im = im.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
        clean = np.asarray(im)
        blur = np.asarray(im.filter(ImageFilter.GaussianBlur(BLUR_RADIUS)))
        noise = np.clip(clean + rng.normal(0, NOISE_SIGMA, clean.shape), 0, 255).round().astype(np.uint8)
        out += [(f"{photo.id}", clean), (f"{photo.id}+blur", blur), (f"{photo.id}+noise", noise)]
    return out


def source_files() -> tuple[str, bytes]:
    """The package-index members kept by ``qtbench weights fetch`` (libsvm text, npz bytes)."""
    from qtbench.iqa import weights

    b = weights.metric_files("brisque")[0].source_path()
    n = weights.metric_files("niqe")[0].source_path()
    return b.read_text(), n.read_bytes()


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation (no ties expected among continuous scores)."""
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def agreement() -> dict:
    """Scores of pyiqa (through qtbench's eval metric) and of the references, with Spearman and max |diff|."""
    import torch

    from qtbench.eval.metrics import NRMetric

    torch.set_num_threads(1)
    svm_text, npz = source_files()
    imgs = images()
    out: dict = {"images": [n for n, _ in imgs], "crop": CROP, "metrics": {}}
    for name, fn in (("brisque", lambda y: ref.brisque_score(y, svm_text)), ("niqe", lambda y: ref.niqe_score(y, npz))):
        metric = NRMetric(name)
        t0 = time.perf_counter()
        ours = np.asarray([float(metric(torch.from_numpy(im.copy()).permute(2, 0, 1)[None].float() / 255)[0])
                           for _, im in imgs])
        t1 = time.perf_counter()
        theirs = np.asarray([fn(ref.luma(im)) for _, im in imgs])
        diff = np.abs(ours - theirs)
        out["metrics"][name] = {
            "spearman": spearman(ours, theirs), "max_abs_diff": float(diff.max()),
            "max_abs_diff_image": imgs[int(diff.argmax())][0], "range": [float(ours.min()), float(ours.max())],
            "pyiqa": ours.round(4).tolist(), "reference": theirs.round(4).tolist(),
            "seconds_pyiqa": round(t1 - t0, 1), "seconds_reference": round(time.perf_counter() - t1, 1)}
    return out


if __name__ == "__main__":
    from qtbench import atomic

    result = agreement()
    result["command"] = "python tests/classic_agreement.py " + " ".join(sys.argv[1:])
    for k, v in result["metrics"].items():
        print(f"{k}: Spearman {v['spearman']:.4f}, max |diff| {v['max_abs_diff']:.4f} ({v['max_abs_diff_image']}), "
              f"pyiqa range {v['range'][0]:.2f}..{v['range'][1]:.2f}")
    if len(sys.argv) > 1:
        atomic.write_json(Path(sys.argv[1]), result)
        print(f"written: {sys.argv[1]}")
