"""Reading and writing the user's own images (``task.data.*=DIR``, ``qtbench eval`` / ``restore``).

Formats: PNG, JPEG, WebP and TIFF; 8- and 16-bit; grey, grey+alpha, RGB, RGBA and palette images. Every
image becomes HxWx3 float32 RGB in [0, 1]; an alpha channel is kept aside (restored images get it back)
and never mixed into the colours, since composing over a background would change what the model sees.

Pillow decodes strictly (a truncated file is an error, where OpenCV would warn and return half an image),
so it validates every file; OpenCV then re-reads 16-bit colour PNG/TIFF, which Pillow reduces to 8 bits.
An unreadable file raises :class:`~qtbench.errors.UserError` naming it, unless the caller skips bad files
and counts them (``--skip-bad``).
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps

from qtbench.errors import UserError

EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff")
_SIXTEEN = {"I;16", "I;16B", "I;16L", "I;16N", "I"}  # Pillow modes of 16-bit grey images
JPEG_QUALITY = 95  # restored JPEG/WebP outputs; high enough that compression does not mask the restoration


@dataclass
class LoadedImage:
    """One decoded image.

    Args:
        rgb: HxWx3 float32 in [0, 1].
        alpha: HxW float32 in [0, 1], or None.
        bits: 8 or 16 (bits per sample of the file).
    """

    rgb: np.ndarray
    alpha: np.ndarray | None = None
    bits: int = 8


@dataclass
class Folder:
    """Images of one folder: ``names[i]`` is the file name of ``images[i]``; ``bad`` the skipped files."""

    root: Path
    names: list[str] = field(default_factory=list)
    images: list[LoadedImage] = field(default_factory=list)
    bad: list[str] = field(default_factory=list)


def list_images(root: Path) -> list[Path]:
    """Image files directly in ``root`` (by extension, case-insensitive), sorted by name.

    Raises:
        UserError: ``root`` is not a folder, or holds no image.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise UserError(f"{root} is not a folder of images")
    files = sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in EXTENSIONS
                   and not p.name.startswith("."))
    if not files:
        raise UserError(f"no images in {root} (looked for {', '.join(EXTENSIONS)})")
    return files


def _from_pil(im: Image.Image) -> LoadedImage:
    mode = im.mode
    if mode in _SIXTEEN:
        a = np.asarray(im, dtype=np.float32) / 65535.0
        return LoadedImage(np.repeat(np.clip(a, 0, 1)[..., None], 3, axis=2), None, 16)
    if mode == "F":  # float TIFF: assume [0, 1]
        a = np.clip(np.asarray(im, dtype=np.float32), 0, 1)
        return LoadedImage(np.repeat(a[..., None], 3, axis=2), None, 16)
    has_alpha = mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in im.info)
    rgba = np.asarray(im.convert("RGBA" if has_alpha else "RGB"), dtype=np.float32) / 255.0
    alpha = rgba[..., 3].copy() if has_alpha else None
    return LoadedImage(np.ascontiguousarray(rgba[..., :3]), alpha, 8)


def _from_cv2(path: Path) -> LoadedImage | None:
    """16-bit colour PNG/TIFF at full precision (None when the file is not one)."""
    arr = cv2.imdecode(np.fromfile(str(path), dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if arr is None or arr.dtype != np.uint16 or arr.ndim != 3:
        return None
    a = arr.astype(np.float32) / 65535.0
    alpha = a[..., 3].copy() if a.shape[2] == 4 else None
    return LoadedImage(np.ascontiguousarray(a[..., 2::-1]), alpha, 16)  # BGR(A) -> RGB


def read_image(path: Path) -> LoadedImage:
    """Decode ``path`` (see the module docstring).

    Raises:
        UserError: the file cannot be read or decoded; the message names it.
    """
    path = Path(path)
    try:
        with Image.open(path) as im:
            # the decoder's raw mode says "RGB;16..." for 16-bit colour, which Pillow reduces to 8 bits
            deep_file = any("16" in str(t.args) for t in (im.tile or []))
            im.load()  # decode now: truncated or corrupt data fails here, not later
            out = _from_pil(ImageOps.exif_transpose(im))
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise UserError(f"cannot read image {path}: {exc}") from None
    if out.bits == 8 and deep_file:
        deep = _from_cv2(path)
        if deep is not None and deep.rgb.shape == out.rgb.shape:
            return deep
    if min(out.rgb.shape[:2]) < 1:
        raise UserError(f"cannot read image {path}: empty image")
    return out


def resize(img: np.ndarray, short_side: int | None, max_side: int | None) -> np.ndarray:
    """Resize so the short side is ``short_side`` but the long side at most ``max_side`` (area filter down)."""
    h, w = img.shape[:2]
    scale = 1.0
    if short_side:
        scale = short_side / min(w, h)
    if max_side and max(w, h) * scale > max_side:
        scale = max_side / max(w, h)
    if scale == 1.0:
        return img
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)


def load_folder(root: Path, skip_bad: bool = False, files: list[Path] | None = None) -> Folder:
    """Decode every image of ``root``; with ``skip_bad`` unreadable files are listed in ``bad`` instead."""
    out = Folder(Path(root))
    for path in files if files is not None else list_images(root):
        try:
            img = read_image(path)
        except UserError:
            if not skip_bad:
                raise
            out.bad.append(path.name)
            continue
        out.names.append(path.name)
        out.images.append(img)
    if not out.images:
        raise UserError(f"none of the {len(out.bad)} images in {root} could be read (first: {out.bad[0]})")
    return out


def is_paired(root: Path) -> bool:
    """True when ``root`` holds ``input/`` and ``gt/`` sub-folders (a paired set)."""
    return (Path(root) / "input").is_dir() and (Path(root) / "gt").is_dir()


def pair_files(root: Path) -> list[tuple[Path, Path]]:
    """Match ``input/`` and ``gt/`` files by name without extension (``a.jpg`` pairs with ``a.png``).

    Raises:
        UserError: a sub-folder is missing, a name appears twice, or some names have no partner (listed).
    """
    root = Path(root).expanduser()
    if not is_paired(root):
        raise UserError(f"paired folder {root} must hold input/ and gt/ sub-folders with matching file names")
    sides = {}
    for side in ("input", "gt"):
        stems: dict[str, Path] = {}
        for p in list_images(root / side):
            if p.stem in stems:
                raise UserError(f"{root / side}: {stems[p.stem].name} and {p.name} have the same name; keep one")
            stems[p.stem] = p
        sides[side] = stems
    only_in = sorted(set(sides["input"]) - set(sides["gt"]))
    only_gt = sorted(set(sides["gt"]) - set(sides["input"]))
    if only_in or only_gt:
        parts = [f"input/ only: {', '.join(sides['input'][s].name for s in only_in)}" if only_in else "",
                 f"gt/ only: {', '.join(sides['gt'][s].name for s in only_gt)}" if only_gt else ""]
        raise UserError(f"paired folder {root}: {len(only_in) + len(only_gt)} names without a partner "
                        f"({'; '.join(p for p in parts if p)})")
    return [(sides["input"][s], sides["gt"][s]) for s in sorted(sides["input"])]


def load_pairs(root: Path, skip_bad: bool = False) -> tuple[Folder, Folder]:
    """Decode a paired folder: (inputs, ground truths), aligned, same names; sizes must agree per pair."""
    root = Path(root).expanduser()
    inputs, gts = Folder(root / "input"), Folder(root / "gt")
    for a, b in pair_files(root):
        try:
            x, y = read_image(a), read_image(b)
            if x.rgb.shape != y.rgb.shape:
                raise UserError(f"pair {a.stem} in {root}: input is {x.rgb.shape[1]}x{x.rgb.shape[0]}, "
                                f"gt is {y.rgb.shape[1]}x{y.rgb.shape[0]}; they must have the same size")
        except UserError:
            if not skip_bad:
                raise
            inputs.bad.append(a.name)
            continue
        inputs.names.append(a.name)
        inputs.images.append(x)
        gts.names.append(b.name)
        gts.images.append(y)
    if not inputs.images:
        raise UserError(f"none of the pairs in {root} could be read (first bad: {inputs.bad[0]})")
    return inputs, gts


def _image_files(root: Path) -> list[tuple[str, Path]]:
    out = []
    for sub in ("", "input", "gt"):
        d = root / sub if sub else root
        if d.is_dir():
            out += [(f"{sub}/{p.name}", p) for p in sorted(d.iterdir()) if p.is_file() and p.suffix.lower() in EXTENSIONS]
    return out


def fingerprint(root: Path) -> str:
    """sha256 over the names and bytes of every image in ``root`` (and ``input/``, ``gt/``): a cache key.

    Memoised per process on the files' names, sizes and modification times, so hashing a run's config
    repeatedly reads a folder once.
    """
    root = Path(root).expanduser().resolve()
    files = _image_files(root)
    stats = tuple((name, p.stat().st_size, p.stat().st_mtime_ns) for name, p in files)
    return _content_hash(str(root), stats)


@functools.lru_cache(maxsize=64)
def _content_hash(root: str, stats: tuple) -> str:
    h = hashlib.sha256()
    for name, _, _ in stats:
        sub, fname = name.split("/", 1)
        h.update(f"{name}\0".encode())
        with open(Path(root) / sub / fname, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()[:20]


def encode_image(name: str, rgb: np.ndarray, alpha: np.ndarray | None = None, bits: int = 8) -> bytes:
    """Encode an HxWx3 float image in [0, 1] for file ``name`` (format from its extension).

    16-bit inputs give 16-bit PNG/TIFF outputs; JPEG and WebP are 8-bit (quality ``JPEG_QUALITY``); the alpha
    channel is kept where the format has one (not JPEG).
    """
    ext = Path(name).suffix.lower()
    if ext not in EXTENSIONS:
        raise UserError(f"cannot write {name}: unknown image extension (use one of {', '.join(EXTENSIONS)})")
    deep = bits == 16 and ext in (".png", ".tif", ".tiff")
    peak, dtype = (65535.0, np.uint16) if deep else (255.0, np.uint8)
    chans = [rgb[..., 2], rgb[..., 1], rgb[..., 0]]  # OpenCV writes BGR(A)
    if alpha is not None and ext not in (".jpg", ".jpeg"):
        chans.append(alpha)
    arr = (np.clip(np.stack(chans, axis=2), 0, 1) * peak + 0.5).astype(dtype)
    params = {".jpg": [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY], ".jpeg": [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY],
              ".webp": [cv2.IMWRITE_WEBP_QUALITY, JPEG_QUALITY]}.get(ext, [])
    ok, buf = cv2.imencode(ext, arr, params)
    if not ok:
        raise UserError(f"cannot encode {name} as {ext}")
    return buf.tobytes()
