"""The 'baseline trained the same way' rule shared by tables and the crossing reading."""

from qtbench.report.pairing import same_setting_baseline

PLAIN = ("mt", (None, None))
WEIGHTED = ("mt weighted", ("2.5", None))
EXPOSED = ("mt exposed", (None, "500"))


def test_a_row_on_defaults_is_paired_with_the_plain_baseline():
    assert same_setting_baseline((None, None), [WEIGHTED, PLAIN, EXPOSED]) == "mt"


def test_a_row_under_a_setting_is_paired_with_the_baseline_trained_the_same_way():
    assert same_setting_baseline(("2.5", None), [PLAIN, WEIGHTED, EXPOSED]) == "mt weighted"
    assert same_setting_baseline((None, "500"), [PLAIN, WEIGHTED, EXPOSED]) == "mt exposed"


def test_a_setting_the_baseline_never_ran_falls_back_to_the_plain_baseline():
    assert same_setting_baseline(("1.0", None), [PLAIN, WEIGHTED]) == "mt"


def test_nothing_fits_when_every_baseline_row_names_another_value():
    assert same_setting_baseline(("1.0", None), [WEIGHTED]) is None
    assert same_setting_baseline(("1.0",), []) is None


def test_ties_keep_the_first_candidate():
    assert same_setting_baseline(("2.5", "500"), [WEIGHTED, EXPOSED]) == "mt weighted"
