"""Rewrite a checkpoint you trust in the format qtbench loads without running code.

``python -m qtbench.engine.convert_checkpoint FILE`` loads FILE with full pickle (this *runs* whatever the file
asks: use it only on files you made or trust), turns numpy arrays into tensors (numpy's RNG state into the plain
tuple :mod:`qtbench.engine.checkpoint` writes) and saves it back atomically, keeping the original as
``FILE.orig``. Checkpoints written by this version need no conversion.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from qtbench import atomic


def plain(obj: Any) -> Any:
    """``obj`` with numpy arrays and scalars replaced by tensors and Python numbers, recursively."""
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(obj.astype(np.int64) if obj.dtype == np.uint32 else obj.copy())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(plain(v) for v in obj)
    return obj


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m qtbench.engine.convert_checkpoint FILE  (only for files you trust)", file=sys.stderr)
        return 2
    path = Path(args[0])
    state = torch.load(path, map_location="cpu", weights_only=False)  # the user vouches for this file
    shutil.copy2(path, path.with_name(path.name + ".orig"))
    atomic.torch_save(path, plain(state))
    print(f"converted {path} (original kept as {path.name}.orig)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
