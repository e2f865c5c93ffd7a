"""Every command's --help renders, and renders the text a user should read (no argparse escapes left over)."""

import argparse

import pytest

from qtbench.cli.main import build_parser


def _commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def test_every_command_has_help_text():
    assert len(_commands()) >= 10


@pytest.mark.parametrize("name", sorted(_commands()))
def test_help_renders_without_escapes(name):
    text = _commands()[name].format_help()
    assert "%%" not in text and "%(" not in text, text
    assert text.count("\n") > 3
