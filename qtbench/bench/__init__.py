"""``qtbench bench``: cost measurements (scoring speedup, cost per PL iteration, sweep overhead), as ratios measured in one process (docs/architecture.md §8).

- :mod:`qtbench.bench.scoring` — one PL step's candidates scored by the ensemble batched (one call per
  member) vs an image-at-a-time loop with ``.item()`` like the official code; same scores, speedup.
- :mod:`qtbench.bench.step` — seconds per PL iteration of ``mt``, ``mt+qualiteacher`` and each single
  add-on, alternating the variants in rounds so that load drifts of a shared machine cancel in the ratios.

Results go to ``results/bench/*.json`` with the machine, load and command that produced them; no test
asserts a timing (timed tests are flaky on shared machines), the numbers are recorded in BENCHMARKS.md.
"""
