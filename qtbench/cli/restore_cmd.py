"""``qtbench restore``: apply a trained model to a folder of images; outputs keep the input names.

Every input is decoded before anything is written, so a corrupt file stops the command with its name and an
empty (or untouched) output folder; ``--skip-bad`` restores the rest and counts the skipped files. Existing
outputs are never overwritten without ``--force``, and each file is written atomically (temp file + rename).
16-bit PNG/TIFF inputs give 16-bit outputs; an alpha channel is carried over unchanged.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from qtbench.errors import UserError
from qtbench.eval.image_limits import (
    MAX_PIXELS,
    MIN_SIDE_RESTORE,
    check_sizes,
    min_side_for,
)
from qtbench.paths import ensure_writable

EPILOG = """examples:
  qtbench restore --checkpoint runs/dehaze/mt/s0-abc123 --input hazy/ --output restored/
  qtbench restore --checkpoint runs/lowlight/mt+qualiteacher/s0-abc123/checkpoint.pt --input night/ \\
      --output out/ --level 7 --skip-bad
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("restore", help="restore a folder of images with a trained model (same file names)",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Restore every image of --input with a run's student (or teacher) and write it "
                       "under --output with the same name and format.")
    p.add_argument("--checkpoint", required=True, help="run folder or its checkpoint.pt")
    p.add_argument("--input", required=True, help="folder of images (a paired folder's input/ is used)")
    p.add_argument("--output", required=True, help="folder for the restored images (created)")
    p.add_argument("--level", type=int, default=None, help="quality level (default: the run's inference level)")
    p.add_argument("--model", default="student", help="student (default) or teacher")
    p.add_argument("--force", action="store_true", help="overwrite existing files in --output")
    p.add_argument("--skip-bad", action="store_true", help="skip unreadable images (counted) instead of failing")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--device", default="cpu", help="cpu | cuda | auto (default: cpu)")
    p.add_argument("--max-pixels", type=int, default=MAX_PIXELS, help="largest image (width*height) restored in "
                   f"one pass (default: {MAX_PIXELS:,}); every image is checked before anything is written")
    p.set_defaults(handler=handle)


def _plan(src: Path, out: Path, skip_bad: bool, force: bool, min_side: int = MIN_SIDE_RESTORE,
          max_pixels: int = MAX_PIXELS) -> tuple[list[Path], list[str]]:
    """Files to restore and unreadable ones; fails before writing when anything is wrong (sizes included)."""
    from qtbench.data import images

    files, bad = [], []
    listed = images.list_images(src)
    check_sizes(listed, min_side, max_pixels, "restore")  # headers only: before decoding a huge file
    for path in listed:
        try:
            images.read_image(path)  # validation pass: decode everything before the first write
        except UserError as exc:
            if not skip_bad:
                raise UserError(f"{exc}; fix or remove it, or pass --skip-bad") from None
            bad.append(path.name)
            continue
        files.append(path)
    if not files:
        raise UserError(f"none of the images in {src} could be read (first: {bad[0]})")
    existing = [p.name for p in files if (out / p.name).exists()]
    if existing and not force:
        more = f" and {len(existing) - 3} more" if len(existing) > 3 else ""
        raise UserError(f"{len(existing)} output file(s) exist in {out} ({', '.join(existing[:3])}{more}); "
                        "pass --force to overwrite them")
    return files, bad


def handle(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from qtbench import atomic
    from qtbench.data import images
    from qtbench.eval.trained import load_trained

    src, out = Path(args.input).expanduser(), Path(args.output).expanduser()
    if images.is_paired(src):
        src = src / "input"
    if not src.is_dir():
        raise UserError(f"--input {args.input}: no such folder")
    if out.exists() and not out.is_dir():
        raise UserError(f"--output {out} exists and is not a folder")
    if out.resolve() == src.resolve():
        raise UserError("--output must differ from --input (restored images keep the input names)")
    ensure_writable(out, "--output")
    trained = load_trained(args.checkpoint, args.model, args.device)
    level = trained.check_level(args.level if args.level is not None else trained.default_level)
    files, bad = _plan(src, out, args.skip_bad, args.force, min_side_for(trained.model), args.max_pixels)
    out.mkdir(parents=True, exist_ok=True)
    for path in tqdm(files, desc="restoring", unit="img", disable=args.no_progress):
        img = images.read_image(path)
        rgb = trained.restore(img.rgb, level)
        atomic.write_bytes(out / path.name, images.encode_image(path.name, rgb, img.alpha, img.bits))
    lvl = "" if level is None else f" at level {level}"
    print(f"restored {len(files)} image(s){lvl} with the {trained.which} of {trained.run_dir} -> {out}")
    if bad:
        print(f"skipped {len(bad)} unreadable file(s): {', '.join(bad)}")
    return 0
