"""Loss-weight tuning with Optuna (docs/architecture.md §7).

``qtbench tune`` drives Optuna directly: a search-space file (:mod:`.space`) over any config key, an
objective on target-**val** only (:mod:`.objective`, :mod:`.monitor`), NFS-safe journal storage with
heartbeats so a killed worker's trial is failed and retried (:mod:`.storage`), K worker processes on the
local machine or on SLURM (:mod:`.workers`, :mod:`.worker`), MLflow child runs under one study run
(:mod:`.tracking`), and ``qtbench tune report`` (:mod:`.report`, :mod:`.plots`, :mod:`.tuned`).
"""
