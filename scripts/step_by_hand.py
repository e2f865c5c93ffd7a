"""By-hand step measurements behind BENCHMARKS.md's notes that `qtbench bench` does not make (a script, not a test).

    python scripts/step_by_hand.py ratio [--warm 100] [METHOD] [-- KEY=VALUE ...]
        alternating rounds of mt and METHOD (default mt+qualiteacher) in one process; --warm N first runs
        both trainers from step 0 for N steps (a filled bank, a drifted teacher, as `qtbench bench --start
        schedule` does) instead of a cold start (`--start cold`)
    python scripts/step_by_hand.py ab METHOD KEY=VALUE
        METHOD with and without one override (e.g. runtime.channels_last=false), alternating rounds
    python scripts/step_by_hand.py bank-entry [STEPS]
        share of new candidates that enter the bank, per 100 steps of a mt+qualiteacher run from step 0

All at cpu scale, dehaze, seed 0, one thread; medians of the per-round ratios are printed.
"""

from __future__ import annotations

import statistics
import sys
import time
import types

import torch


def _trainers(specs: list[tuple[str, list[str]]]):
    from qtbench.bench.common import build_context
    from qtbench.bench.step import build_trainer

    torch.set_num_threads(1)
    args = [types.SimpleNamespace(task="dehaze", seed=0, scale="cpu", overrides=o, device="cpu", out="/tmp/qtb")
            for _, o in specs]
    ctx = build_context(args[0])
    return [build_trainer(m, a, ctx) for (m, _), a in zip(specs, args)]


def _run(trainer, n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        trainer.train_step()
        trainer.step += 1
    return (time.perf_counter() - t0) / n


def _alternate(trainers, rounds: int = 10, steps: int = 4) -> list[float]:
    """Per-round ratio trainers[1] / trainers[0], the order reversed every other round."""
    ratios = []
    for r in range(rounds):
        order = trainers if r % 2 == 0 else trainers[::-1]
        sec = {id(t): _run(t, steps) for t in order}
        ratios.append(sec[id(trainers[1])] / sec[id(trainers[0])])
    return ratios


def _report(what: str, ratios: list[float]) -> None:
    print(f"{what}: median {statistics.median(ratios):.2f} (rounds {min(ratios):.2f}-{max(ratios):.2f})")


def ratio(argv: list[str]) -> None:
    warm = 0
    if argv[:1] == ["--warm"]:
        warm, argv = int(argv[1]), argv[2:]
    method = argv[0] if argv and argv[0] != "--" else "mt+qualiteacher"
    overrides = argv[argv.index("--") + 1:] if "--" in argv else []
    trainers = _trainers([("mt", overrides), (method, overrides)])
    for t in trainers:
        if warm:
            t.step = 0
        _run(t, warm or 2)
    _report(f"{method} / mt ({f'warmed {warm} steps from 0' if warm else 'cold, as bench --start cold'})",
            _alternate(trainers))


def ab(argv: list[str]) -> None:
    method, override = argv[0], argv[1]
    key = override.split("=", 1)[0]
    trainers = _trainers([(method, []), (method, [override])])
    for t in trainers:
        _run(t, 2)
    _report(f"{method}: with {override} / default {key}", _alternate(trainers))


def bank_entry(argv: list[str]) -> None:
    from qtbench_methods import bank

    steps = int(argv[0]) if argv else 500
    (trainer,) = _trainers([("mt+qualiteacher", [])])
    trainer.step = 0
    shares: list[float] = []
    merge = bank.top_k_merge

    def counting(rank_old, rank_new, k):
        index, valid = merge(rank_old, rank_new, k)
        shares.append(float(((index >= rank_old.shape[1]) & valid).sum()) / rank_new.numel())
        return index, valid

    bank.top_k_merge = counting
    for i in range(steps):
        _run(trainer, 1)
        if (i + 1) % 100 == 0:
            print(f"steps {i - 98}-{i + 1}: {statistics.mean(shares[-100:]):.0%} of new candidates enter the bank")


if __name__ == "__main__":
    commands = {"ratio": ratio, "ab": ab, "bank-entry": bank_entry}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        sys.exit(__doc__)
    commands[sys.argv[1]](sys.argv[2:])
