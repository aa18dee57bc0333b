"""`intake briefs import FILE --dry-run` as a script sees it: the columns, what was
recognised and a sample row, in text and JSON, with nothing written."""

import json
import os
import subprocess
import sys

import pytest

from tests.test_survey_exports import SURVEYS


@pytest.fixture
def run(tmp_path, sqlite_url):
    env = {**os.environ, "INTAKE_DATA_DIR": str(tmp_path / "data"),
           "INTAKE_DATABASE_URL": sqlite_url}

    def intake(*args, code=0):
        done = subprocess.run([sys.executable, "-m", "intake.cli", *args], env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == code, done.stdout + done.stderr
        return done

    return intake


def test_a_dry_run_shows_columns_and_recognised_fields_and_writes_nothing(run):
    out = run("briefs", "import", str(SURVEYS / "qualtrics_en.csv"), "--dry-run").stdout
    assert "qualtrics_en.csv: a Qualtrics export, 2 row(s); header rows under the first: " \
           "question texts, import ids" in out
    row = next(line for line in out.splitlines() if line.startswith("T "))
    assert row.split()[:2] == ["T", "Q3"] and "What is the title of your practice?" in row
    assert "title" in row and "Community health workers on motorbikes" in row
    assert "title = Q3 (T)" in out and "response_id = ResponseId (I)" in out
    assert "first row (line 4): response_id: R_1dA8kQx2LmZp3Rt" in out
    assert "would add 2 brief(s)" in out and out.rstrip().endswith("nothing was written")
    assert json.loads(run("briefs", "list", "--json").stdout) == []


def test_a_dry_run_in_json_counts_new_and_known_records(run):
    path = str(SURVEYS / "surveymonkey.csv")
    shown = json.loads(run("briefs", "import", path, "--dry-run", "--json").stdout)
    assert shown["format"] == "surveymonkey" and shown["header_rows"] == ["answer names"]
    assert shown["recognised"]["title"] == \
        "What is the title of your practice? / Open-Ended Response"
    assert [c["letter"] for c in shown["columns"] if c["label"] == "Regional"] == ["N"]
    assert (shown["new"], shown["known"], shown["missing"], shown["errors"]) == (2, 0, [], [])
    run("briefs", "import", path)
    again = json.loads(run("briefs", "import", path, "--dry-run", "--json").stdout)
    assert (again["new"], again["known"]) == (0, 2)


def test_a_dry_run_of_a_file_that_would_fail_shows_why_and_exits_2(run, tmp_path):
    (tmp_path / "export.csv").write_text("Ref,Practice,Mail\n7,Night clinics,a@example.org\n"
                                         "7,Day clinics,b@example.org\n")
    out = run("briefs", "import", str(tmp_path / "export.csv"), "--dry-run", code=2).stdout
    assert "missing: response_id, title" in out and "B    Practice" in out
    (tmp_path / "map.json").write_text(json.dumps({"response_id": "#A", "title": "Practice"}))
    shown = json.loads(run("briefs", "import", str(tmp_path / "export.csv"), "--dry-run",
                           "--json", "--mapping", str(tmp_path / "map.json"), code=2).stdout)
    assert shown["errors"] == ["line 3: response id '7' already on line 2"]
    assert shown["recognised"] == {"response_id": "Ref", "email": "Mail", "title": "Practice"}
    assert json.loads(run("briefs", "list", "--json").stdout) == []
