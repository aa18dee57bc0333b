"""Survey import of files as real survey tools write them (tests/data/surveys/): Qualtrics'
three header rows (English and German), SurveyMonkey's two, KoboToolbox's semicolons,
REDCap's labels and raw names; columns named by header, by "Question / Answer" or by
position; titles and emails recognised without a mapping."""

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from intake.review.survey import ImportFailed, import_briefs, plan, preview
from intake.review.survey_files import letter, position
from store.models import Brief

SURVEYS = Path(__file__).resolve().parent / "data" / "surveys"


async def _briefs(ctx):
    async with ctx.db.reader()() as session:
        return {b.response_id: b for b in await session.scalars(select(Brief))}


@pytest.mark.parametrize("name", ["qualtrics_en.csv", "qualtrics_de.csv"])
async def test_qualtrics_question_text_and_import_id_rows_are_not_briefs(ctx, name):
    report = await import_briefs(ctx, SURVEYS / name)
    briefs = await _briefs(ctx)
    assert sorted(briefs) == sorted(b for b in briefs if b.startswith("R_"))
    assert report.created == 2 and len(briefs) == 2
    assert not {"Response ID", "Antwort-ID", '{"ImportId":"_recordId"}'} & set(briefs)
    assert report.columns["title"] == "Q3" and report.columns["email"] == "Q2"


async def test_qualtrics_with_an_email_mapping_imports(ctx, tmp_path):
    # Before: the question-text row's "Your e-mail address" failed as "not an email address".
    (tmp_path / "map.json").write_text(json.dumps({"email": "Q2", "title": "Q3"}))
    await import_briefs(ctx, SURVEYS / "qualtrics_en.csv", mapping_file=tmp_path / "map.json")
    briefs = await _briefs(ctx)
    assert briefs["R_1dA8kQx2LmZp3Rt"].email == "grace.mensah@example.org"
    assert briefs["R_3PqLs0aZ9cVb2Xw"].title == 'Mobile eye clinic, "Ver bien"'
    # A cell holding a line break stays one cell; unmapped columns are kept by their id.
    assert briefs["R_3PqLs0aZ9cVb2Xw"].extra["Q5"].startswith("A bus fitted as an eye clinic")
    assert "\n" in briefs["R_3PqLs0aZ9cVb2Xw"].extra["Q5"]


async def test_qualtrics_columns_can_be_named_by_question_text(ctx, tmp_path):
    (tmp_path / "map.json").write_text(json.dumps(
        {"title": "Wie lautet der Titel Ihrer Praxis?", "name": "Ihr Name", "country": "Land"}))
    await import_briefs(ctx, SURVEYS / "qualtrics_de.csv", mapping_file=tmp_path / "map.json")
    brief = (await _briefs(ctx))["R_2xWmT7bKc4NfQ8e"]
    assert (brief.title, brief.name, brief.country) == (
        "Gesundheitslotsen für Geflüchtete", "Jana Krüger", "Deutschland")
    assert brief.email == "jana.krueger@example.org"  # "Ihre E-Mail-Adresse", recognised


async def test_surveymonkey_answer_row_is_folded_into_column_names(ctx):
    report = await import_briefs(ctx, SURVEYS / "surveymonkey.csv")
    briefs = await _briefs(ctx)
    assert sorted(briefs) == ["114238905712", "114238911045"]
    brief = briefs["114238905712"]
    assert brief.title == "Mobile vaccination teams in rural districts"
    # The question's email, not SurveyMonkey's own (empty) "Email Address" column.
    assert brief.email == "ana.silva@example.org"
    assert report.columns["title"] == "What is the title of your practice? / Open-Ended Response"
    # A question over three columns: the later two have no header of their own.
    assert brief.extra["At which level does the practice work? / Regional"] == "Regional"


@pytest.mark.parametrize("level", ["#N", "#14", "At which level does the practice work? / Regional",
                                   "at which level does the practice work? / regional"])
async def test_a_column_without_a_first_row_header_can_be_mapped(ctx, tmp_path, level):
    (tmp_path / "map.json").write_text(json.dumps({"level": level}))
    report = await import_briefs(ctx, SURVEYS / "surveymonkey.csv",
                                 mapping_file=tmp_path / "map.json")
    briefs = await _briefs(ctx)
    assert report.columns["level"] == "At which level does the practice work? / Regional"
    assert briefs["114238905712"].level == "Regional" and briefs["114238911045"].level is None


async def test_surveymonkey_xlsx_has_the_same_two_header_rows(ctx, tmp_path):
    import csv

    from openpyxl import Workbook

    book = Workbook()
    with (SURVEYS / "surveymonkey.csv").open(encoding="utf-8-sig", newline="") as handle:
        for row in csv.reader(handle):
            book.active.append([None if c == "" else c for c in row])
    book.save(tmp_path / "surveymonkey.xlsx")
    report = await import_briefs(ctx, tmp_path / "surveymonkey.xlsx")
    assert report.created == 2
    assert (await _briefs(ctx))["114238911045"].title == "School gardens against anaemia"


@pytest.mark.parametrize(("name", "rid", "title", "email"), [
    ("kobotoolbox.csv", "318405771", "Solar-powered vaccine fridges", "h.abebe@example.org"),
    ("redcap_labels.csv", "1", "Peer groups for young mothers", "m.diallo@example.org"),
    ("redcap_raw.csv", "2", "Text reminders for TB treatment", "p.nair@example.org"),
])
async def test_kobotoolbox_and_redcap_need_no_mapping(ctx, name, rid, title, email):
    report = await import_briefs(ctx, SURVEYS / name)
    brief = (await _briefs(ctx))[rid]
    assert report.created == 2 and (brief.title, brief.email) == (title, email)


async def test_a_mapping_naming_no_column_says_so_and_imports_nothing(ctx, tmp_path):
    (tmp_path / "map.json").write_text(json.dumps({"email": "Contact"}))
    with pytest.raises(ImportFailed, match=r"email → 'Contact' names no column.*A: StartDate"):
        await import_briefs(ctx, SURVEYS / "qualtrics_en.csv", mapping_file=tmp_path / "map.json")
    assert await _briefs(ctx) == {}


def test_the_preview_shows_columns_recognised_fields_and_a_sample():
    shown = preview(plan(SURVEYS / "qualtrics_en.csv"))
    assert shown["format"] == "qualtrics" and shown["rows"] == 2
    assert shown["header_rows"] == ["question texts", "import ids"]
    q3 = next(c for c in shown["columns"] if c["name"] == "Q3")
    assert q3 == {"letter": "T", "name": "Q3", "label": "What is the title of your practice?",
                  "field": "title", "sample": "Community health workers on motorbikes"}
    assert shown["recognised"]["response_id"] == "ResponseId"
    assert shown["sample"]["line"] == 4
    assert shown["sample"]["values"]["email"] == "grace.mensah@example.org"
    assert shown["errors"] == []


def test_column_letters_and_positions():
    assert [letter(i) for i in (0, 25, 26, 51, 702)] == ["A", "Z", "AA", "AZ", "AAA"]
    assert [position(p) for p in ("#A", "#c", "#AA", "#1", "# 27", "A", "#0x")] == [
        0, 2, 26, 0, 26, None, None]


async def test_picked_columns_are_stored_and_preferred_next_time(ctx, tmp_path):
    from intake.review.survey import remember, remembered

    assert await remembered(ctx) == {}
    first = plan(SURVEYS / "surveymonkey.csv", chosen={"email": ["#F"]}, require=False)
    await remember(ctx, first, "cora")
    await remember(ctx, first, "cleo")  # one row, updated in place
    assert await remembered(ctx) == {"title": [first.table.headers[9]],
                                     "response_id": ["Respondent ID"],
                                     "email": ["Email Address"]}
    # Preferred, not required: the (empty) column picked last time wins over recognition.
    again = plan(SURVEYS / "surveymonkey.csv", preferred=await remembered(ctx))
    assert again.table.headers[again.columns["email"]] == "Email Address"
    other = plan(SURVEYS / "kobotoolbox.csv", preferred=await remembered(ctx))
    assert other.table.headers[other.columns["email"]] == "Your email"  # no such column there


async def test_a_first_row_without_its_id_is_not_taken_for_a_header_row(ctx, tmp_path):
    # An unnamed column and a first row lacking its response id: still a bad row, named.
    (tmp_path / "s.csv").write_text("id,title,,email\n,Clinics,note,a@example.org\n"
                                    "2,Kiosks,,b@example.org\n")
    with pytest.raises(ImportFailed) as failed:
        await import_briefs(ctx, tmp_path / "s.csv")
    assert failed.value.errors == ["line 2: empty response id"]
    assert preview(plan(tmp_path / "s.csv"))["header_rows"] == []


async def test_the_report_names_the_header_rows_it_skipped(ctx):
    report = await import_briefs(ctx, SURVEYS / "surveymonkey.csv")
    assert report.header_rows == ["answer names"]


async def test_surveymonkey_answer_row_in_a_language_we_have_no_words_for(ctx, tmp_path):
    # Dutch: "Open antwoord" is not a known answer name; the named choices of a question
    # spread over header-less columns give the row away.
    (tmp_path / "nl.csv").write_bytes(
        "\ufeffRespondent ID,Collector ID,Titel van de praktijk,Niveau,,\r\n"
        ",,Open antwoord,Nationaal,Regionaal,Lokaal\r\n"
        "114239001234,431876291,Wijkverpleging op de fiets,,Regionaal,\r\n".encode())
    report = await import_briefs(ctx, tmp_path / "nl.csv")
    assert report.header_rows == ["answer names"] and report.created == 1
    brief = (await _briefs(ctx))["114239001234"]
    assert brief.title == "Wijkverpleging op de fiets"
    assert brief.extra == {"Collector ID": "431876291", "Niveau / Regionaal": "Regionaal"}
