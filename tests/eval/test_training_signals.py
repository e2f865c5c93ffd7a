"""Which NR metrics an evaluation flags as training signals of the run (qtbench/eval/trained.py)."""

from omegaconf import OmegaConf

from qtbench.eval.trained import training_signals


def _cfg(alpha=None):
    iqa = {"preset": "classic"} if alpha is None else {"preset": "classic", "agreement": {"alpha": alpha, "sigma": 0.0}}
    return OmegaConf.create({"iqa": iqa})


def test_the_summary_lists_the_training_signals():
    summary = {"reward_metrics": ["brisque", "niqe"]}
    assert training_signals(summary, _cfg()) == ["brisque", "niqe"]  # a run from before the agreement knobs
    assert training_signals(summary, _cfg(0.5)) == ["brisque", "niqe"]  # mixed: the members still count half
    assert training_signals({}, _cfg(0.0)) == []


def test_a_pure_oracle_run_was_trained_on_no_nr_metric():
    # its summary (written by older code) lists the preset's members, but at alpha = 1 they had weight 0
    assert training_signals({"reward_metrics": ["brisque", "niqe"]}, _cfg(1.0)) == []
