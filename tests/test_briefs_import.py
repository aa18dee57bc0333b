"""Survey import: CSV/XLSX/JSON, header mapping, all-or-nothing with line numbers, upsert."""

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from intake.review.survey import ImportFailed, import_briefs
from parsers.refcode import is_valid
from store.models import Brief

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "survey.csv"


async def _briefs(ctx):
    async with ctx.db.reader()() as session:
        return {b.response_id: b for b in await session.scalars(select(Brief))}


async def test_sample_csv_imports_with_codes_that_check(ctx):
    report = await import_briefs(ctx, SAMPLE)
    assert (report.rows, report.created, report.updated) == (6, 6, 0)
    assert report.columns["title"] == "Title of the practice"
    assert report.columns["email"] == "Email address"
    briefs = await _briefs(ctx)
    assert briefs["1003"].title == "Школа здоровья для пациентов с диабетом"
    assert briefs["1002"].email == "carlos.perez@example.org"
    assert all(is_valid(b.ref) and b.ref.startswith("HLH-") for b in briefs.values())
    assert len({b.ref for b in briefs.values()}) == 6


async def test_reimport_updates_in_place_and_keeps_codes(ctx, tmp_path):
    await import_briefs(ctx, SAMPLE)
    before = {k: b.ref for k, b in (await _briefs(ctx)).items()}
    changed = tmp_path / "survey.csv"
    changed.write_text(SAMPLE.read_text(encoding="utf-8").replace(
        "Digital register of home births", "Digital register of every home birth"),
        encoding="utf-8")
    report = await import_briefs(ctx, changed)
    assert (report.created, report.updated, report.unchanged) == (0, 1, 5)
    after = await _briefs(ctx)
    assert {k: b.ref for k, b in after.items()} == before
    assert after["1006"].title == "Digital register of every home birth"


async def test_xlsx_and_json_exports(ctx, tmp_path):
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["ResponseId", "E-mail", "TITLE", "Country", "Q12 other"])
    sheet.append([501, "a@example.org", "Mobile clinics", "Peru", "extra answer"])
    sheet.append([None, None, None, None, None])  # blank rows are skipped
    sheet.append([502, None, "Clean water kiosks", "Chad", None])
    book.save(tmp_path / "export.xlsx")
    report = await import_briefs(ctx, tmp_path / "export.xlsx")
    assert report.created == 2
    (tmp_path / "export.json").write_text(json.dumps(
        {"results": [{"id": "j1", "title": "Peer support groups", "email": "p@example.org"}]}))
    assert (await import_briefs(ctx, tmp_path / "export.json")).created == 1
    briefs = await _briefs(ctx)
    assert briefs["501"].extra == {"Q12 other": "extra answer"}
    assert briefs["502"].email is None and briefs["j1"].title == "Peer support groups"


async def test_a_mapping_file_names_unusual_headers(ctx, tmp_path):
    (tmp_path / "odd.csv").write_text("Ref;Q3;Contact\nr1;Solar fridges;s@example.org\n")
    (tmp_path / "map.json").write_text(json.dumps(
        {"response_id": "Ref", "title": "Q3", "email": ["Contact"]}))
    report = await import_briefs(ctx, tmp_path / "odd.csv", mapping_file=tmp_path / "map.json")
    assert report.created == 1
    assert (await _briefs(ctx))["r1"].email == "s@example.org"


async def test_a_file_without_a_title_column_is_refused_whole(ctx, tmp_path):
    (tmp_path / "notitle.csv").write_text("Response ID,Email\n1,a@example.org\n")
    with pytest.raises(ImportFailed, match="missing column.*title"):
        await import_briefs(ctx, tmp_path / "notitle.csv")
    assert await _briefs(ctx) == {}


async def test_bad_rows_are_reported_by_line_and_nothing_is_imported(ctx, tmp_path):
    (tmp_path / "bad.csv").write_text(
        "Response ID,Title,Email\n"
        "1,Good practice,a@example.org\n"
        ",No id here,b@example.org\n"
        "3,,c@example.org\n"
        "1,Same id again,d@example.org\n"
        "5,Bad address,not-an-email\n")
    with pytest.raises(ImportFailed) as failed:
        await import_briefs(ctx, tmp_path / "bad.csv")
    assert failed.value.errors == [
        "line 3: empty response id",
        "line 4: empty title",
        "line 5: response id '1' already on line 2",
        "line 6: not an email address: 'not-an-email'",
    ]
    assert await _briefs(ctx) == {}


async def test_codes_are_redrawn_when_one_is_taken(ctx, tmp_path, monkeypatch):
    codes = iter(["HLH-00000-0", "HLH-00000-0", "HLH-11111-" + __import__(
        "parsers.refcode", fromlist=["x"]).check_symbol("11111")])
    monkeypatch.setattr("intake.review.survey.new_code", lambda prefix: next(codes))
    (tmp_path / "two.csv").write_text("id,title\na,First\nb,Second\n")
    await import_briefs(ctx, tmp_path / "two.csv")
    async with ctx.db.reader()() as session:
        assert await session.scalar(select(func.count(func.distinct(Brief.ref)))) == 2


async def test_windows_csv_in_cp1252_is_read(ctx, tmp_path):
    (tmp_path / "win.csv").write_bytes("id;Titre\n7;Sant\xe9 \xe0 l'\xe9cole\n".encode("cp1252"))
    await import_briefs(ctx, tmp_path / "win.csv")
    assert (await _briefs(ctx))["7"].title == "Santé à l'école"
