"""Launch order of a sweep's cells: one cell per task and seed first, so parallel jobs train different bases."""

from qtbench.launch.sweep import bases_first


def _cells(spec: list[tuple[str, str, int]]) -> list[tuple[dict, str]]:
    return [({"method": m, "task": t, "seed": s}, "pending") for m, t, s in spec]


def test_first_cell_of_each_task_and_seed_goes_first_and_the_rest_keep_their_order():
    items = _cells([("a", "dehaze", 0), ("a", "dehaze", 0), ("a", "dehaze", 1), ("b", "dehaze", 1),
                    ("b", "underwater", 0), ("c", "dehaze", 0)])
    order = [(c["method"], c["task"], c["seed"]) for c, _ in bases_first(items)]
    assert order == [("a", "dehaze", 0), ("a", "dehaze", 1), ("b", "underwater", 0),  # one per base, in order
                     ("a", "dehaze", 0), ("b", "dehaze", 1), ("c", "dehaze", 0)]


def test_order_is_a_permutation_and_idempotent():
    items = _cells([(m, t, s) for m in "xyz" for t in ("dehaze", "derain") for s in range(3)])
    once = bases_first(items)
    assert sorted(map(id, once)) == sorted(map(id, items)) and bases_first(once) == once
