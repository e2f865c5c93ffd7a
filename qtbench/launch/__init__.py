"""Launching at scale (docs/architecture.md §7): launchers, sweeps, preemption-safe jobs, compute plans.

- :mod:`.config`    launcher settings (``conf/launcher/*.yaml``, ``launcher.KEY=VALUE`` overrides)
- :mod:`.executor`  submitit executors for ``local`` and ``slurm``; waves and job arrays
- :mod:`.job`       the submitted callable: submitit's checkpoint protocol, job records, run-dir lock
- :mod:`.jobrecord` ``<run_dir>/job.json``: which job runs a cell, its logs, whether it is alive
- :mod:`.sweep_file` reading and checking ``sweeps/NAME.yaml`` (errors name the line)
- :mod:`.expand`    sweep -> cells (resolved configs, identity hashes), cached per code version
- :mod:`.sweep_state` the sweep folder, the MLflow parent run, per-cell status
- :mod:`.close_parent` closes a finished sweep's parent run in the background (fast re-invocations)
- :mod:`.sweep`     one invocation: skip done cells, (re)submit the others
- :mod:`.plan`      cells, seeds and estimated compute before launching
"""
