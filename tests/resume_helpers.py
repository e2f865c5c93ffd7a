"""An uninterrupted run and the same run killed at a step then resumed, for the bit-identical resume tests."""

from __future__ import annotations

from typing import Any

import pytest


def uninterrupted_and_resumed(method: str, overrides: list[str], stop_at: int, tmp_path, monkeypatch
                              ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Summaries of ``method`` on dehaze (smoke scale) run straight through, and run again in another folder with a
    KeyboardInterrupt at PL step ``stop_at`` followed by a resume from its checkpoint (same process)."""
    from qtbench.config.compose import compose_run
    from qtbench.engine.trainer import PLTrainer
    from qtbench.runner import execute

    ref = execute(compose_run(method, "dehaze", scale="smoke", overrides=overrides, runs_dir=str(tmp_path / "ref")))
    step = PLTrainer.train_step

    def dying(self):
        if self.step == stop_at:
            raise KeyboardInterrupt
        return step(self)

    cfg = compose_run(method, "dehaze", scale="smoke", overrides=overrides, runs_dir=str(tmp_path / "cut"))
    monkeypatch.setattr(PLTrainer, "train_step", dying)
    with pytest.raises(KeyboardInterrupt):
        execute(cfg)
    monkeypatch.setattr(PLTrainer, "train_step", step)
    return ref, execute(cfg)
