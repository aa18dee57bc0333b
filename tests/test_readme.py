"""The README stays true: every setting documented, and CI runs the README's test command."""

import re
from pathlib import Path

from intake.cli.main import build_parser
from intake.config import known_setting_names

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_in_the_readme():
    missing = sorted(name for name in known_setting_names() if name not in README)
    assert missing == []


def test_every_setting_the_readme_names_exists():
    named = set(re.findall(r"`(INTAKE_[A-Z0-9_]+)", README)) - {"INTAKE_TEST_PG"}
    assert sorted(named - known_setting_names()) == []


def test_ci_runs_the_readme_test_command():
    match = re.search(r"^(pip install -e '\.\[test\]' && python -m pytest -q)", README, re.M)
    assert match, "the README's test command moved"
    assert match.group(1) in (ROOT / ".ci" / "run").read_text()


def test_commands_in_the_readme_table_exist():
    parser = build_parser()
    for line in re.findall(r"^\| `intake ([a-z]+ ?[a-z]*)", README, re.M):
        words = line.split()
        try:
            parser.parse_args([*words, "--help"])
        except SystemExit as exit_:
            assert exit_.code == 0, line
