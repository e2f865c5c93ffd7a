"""The README's quick start stays true: CI runs exactly the README's test command."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _quick_start() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = text.split("## Quick start", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    return [ln.strip() for ln in block.strip().splitlines()]


def test_quick_start_is_install_run_test():
    install, run, test = _quick_start()
    assert install == 'pip install -e ".[test]"'
    assert run == "qtbench run --method mt --task dehaze"
    assert test.startswith("python -m pytest")


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert _quick_start()[2] in [ln.strip() for ln in ci]
    assert _quick_start()[0] in [ln.strip() for ln in ci]
