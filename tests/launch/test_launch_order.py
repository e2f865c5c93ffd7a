"""Launch order of a sweep's cells: lowest seeds first (or the file's order), one cell per task and seed before the
rest so parallel jobs train different bases."""

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


def test_seeds_first_puts_every_rows_lowest_seed_before_any_rows_next_seed():
    from qtbench.launch.sweep import seeds_first

    items = _cells([("a", "dehaze", 0), ("a", "dehaze", 1), ("b", "dehaze", 0), ("b", "dehaze", 1),
                    ("c", "dehaze", 1)])
    order = [(c["method"], c["seed"]) for c, _ in seeds_first(items)]
    assert order == [("a", 0), ("b", 0), ("a", 1), ("b", 1), ("c", 1)]  # stable within a seed


def test_launchable_applies_the_invocations_order_then_one_cell_per_base(tmp_path):
    import dataclasses

    from qtbench.launch.sweep import launchable
    from qtbench.launch.sweep_file import load_sweep

    (tmp_path / "s.yaml").write_text("name: t\nscale: smoke\naxes:\n  methods: [mt, srconly]\n  seeds: [0, 1]\n"
                                     "  grid: {pl.lr: [1.0e-4, 2.0e-4]}\n")
    spec = load_sweep(tmp_path / "s.yaml")
    cells = [{"index": i, "task": c.task, "seed": c.seed} for i, c in enumerate(spec.cells)]

    class Pending:
        status = "pending"

    statuses = [Pending()] * len(cells)
    # file order: mt s0 (0, 1), mt s1 (2, 3), srconly s0 (4, 5), srconly s1 (6, 7)
    # seeds (the default): both bases' first cells, then the rest of seed 0, then the rest of seed 1
    assert [c["index"] for c, _ in launchable(spec, cells, statuses)] == [0, 2, 1, 4, 5, 3, 6, 7]
    by_file = dataclasses.replace(spec, launch_order="file")
    assert [c["index"] for c, _ in launchable(by_file, cells, statuses)] == [0, 2, 1, 3, 4, 5, 6, 7]


def test_status_by_row_counts_seeds_done_and_lists_the_rest_by_status():
    import io

    from qtbench.launch.sweep import print_rows

    class St:
        def __init__(self, status):
            self.status = status

    def cell(i, method, seed, alpha=None):
        labels = {"method": method, "task": "dehaze", "seed": seed, **({"alpha": alpha} if alpha is not None else {})}
        return {"index": i, "method": method, "task": "dehaze", "seed": seed, "labels": labels}

    cells = [cell(0, "pref", 0, 0.5), cell(1, "pref", 1, 0.5), cell(2, "pref", 2, 0.5), cell(3, "mt", 0), cell(4, "mt", 1)]
    statuses = [St("done"), St("failed"), St("pending"), St("done"), St("done")]
    out = io.StringIO()
    print_rows(cells, statuses, out)
    lines = [" ".join(line.split()) for line in out.getvalue().splitlines()]
    assert lines == ["1/3 pref/dehaze [alpha=0.5] failed: 1; pending: 2", "2/2 mt/dehaze"]
