"""Survey import: read CSV/XLSX/JSON exports, map columns, upsert briefs all-or-nothing."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from intake.context import Context
from parsers.refcode import new_code
from store.models import Brief
from store.queries import add_event, all_briefs

# Brief field → header names recognised by default (compared case- and space-insensitively).
DEFAULT_MAPPING: dict[str, list[str]] = {
    "response_id": ["response id", "responseid", "response_id", "id", "submission id",
                    "_id", "_uuid", "record id", "respondent id"],
    "email": ["email", "email address", "e-mail", "e-mail address", "courriel", "correo"],
    "title": ["title", "title of the practice", "practice title", "name of the practice",
              "titre", "título", "titulo"],
    "name": ["name", "full name", "your name", "nom", "nombre"],
    "organisation": ["organisation", "organization", "institution", "organisme", "organización"],
    "country": ["country", "pays", "país"],
    "level": ["level", "niveau", "nivel"],
    "summary": ["summary", "description", "résumé", "resumen", "abstract"],
    "submitted_at": ["submitted at", "submitted", "submission date", "timestamp", "end date",
                     "date"],
    "language": ["language", "langue", "idioma"],
}
REQUIRED = ("response_id", "title")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class ImportFailed(Exception):
    """The file cannot be imported; nothing was written. `errors` lists what to fix."""

    def __init__(self, message: str, errors: list[str] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []


@dataclass
class ImportReport:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rematched: int = 0
    columns: dict[str, str] = field(default_factory=dict)  # brief field → header used
    ignored_columns: list[str] = field(default_factory=list)


@dataclass
class Table:
    headers: list[str]
    rows: list[tuple[int, list[str]]]  # (line number in the file, cells)


def _key(header: str) -> str:
    return re.sub(r"[\s_\-]+", " ", str(header or "")).strip().casefold()


def load_mapping(path: Path | None) -> dict[str, list[str]]:
    """The default mapping, overridden field by field by a JSON file {"field": "Header"}."""
    mapping = {k: list(v) for k, v in DEFAULT_MAPPING.items()}
    if path is None:
        return mapping
    try:
        custom = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ImportFailed(f"cannot read mapping file {path}: {exc}") from None
    for name, headers in custom.items():
        if name not in mapping:
            raise ImportFailed(f"mapping file: unknown field {name!r}; known: {', '.join(mapping)}")
        mapping[name] = [headers] if isinstance(headers, str) else list(headers)
    return mapping


def read_table(path: Path) -> Table:
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return _read_xlsx(path)
    if suffix == ".json":
        return _read_json(path)
    return _read_csv(path)


def _read_csv(path: Path) -> Table:
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")  # Excel's "CSV" on Windows
    try:
        dialect = csv.Sniffer().sniff(text[:20000], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    headers = next(reader, None)
    if not headers:
        raise ImportFailed(f"{path}: the file is empty")
    rows = []
    for cells in reader:
        if any(c.strip() for c in cells):
            rows.append((reader.line_num, cells))
    return Table(headers, rows)


def _read_xlsx(path: Path) -> Table:
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zipfile/KeyError/InvalidFileException...
        raise ImportFailed(f"{path}: not a readable XLSX file ({exc})") from None
    sheet = book.worksheets[0]
    lines = sheet.iter_rows(values_only=True)
    headers = [str(h or "") for h in next(lines, [])]
    rows = []
    for number, values in enumerate(lines, 2):
        cells = ["" if v is None else str(v) for v in values]
        if any(c.strip() for c in cells):
            rows.append((number, cells))
    book.close()
    return Table(headers, rows)


def _read_json(path: Path) -> Table:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except ValueError as exc:
        raise ImportFailed(f"{path}: not valid JSON ({exc})") from None
    if isinstance(data, dict):  # {"responses": [...]} or {"results": [...]} exports
        data = next((v for v in data.values() if isinstance(v, list)), [])
    records = [r for r in data if isinstance(r, dict)]
    headers: list[str] = []
    for record in records:
        headers += [k for k in record if k not in headers]
    rows = [(n, [_cell(r.get(h)) for h in headers]) for n, r in enumerate(records, 1)]
    return Table(headers, rows)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def map_columns(headers: list[str], mapping: dict[str, list[str]]) -> dict[str, int]:
    """Brief field → column index; raises when a required column is missing."""
    keys = [_key(h) for h in headers]
    columns: dict[str, int] = {}
    for name, candidates in mapping.items():
        for candidate in candidates:
            if _key(candidate) in keys:
                columns[name] = keys.index(_key(candidate))
                break
    missing = [name for name in REQUIRED if name not in columns]
    if missing:
        wanted = "; ".join(f"{m}: one of {mapping[m][:4]}" for m in missing)
        raise ImportFailed(
            f"missing column(s) {', '.join(missing)} ({wanted}). Columns found: "
            f"{', '.join(headers)}. Use --mapping FILE to name them."
        )
    return columns


def _records(table: Table, columns: dict[str, int]) -> Iterator[tuple[int, dict, dict]]:
    used = set(columns.values())
    for line, cells in table.rows:
        values = {name: (cells[i].strip() if i < len(cells) else "") for name, i in
                  columns.items()}
        extra = {table.headers[i]: c for i, c in enumerate(cells)
                 if i not in used and i < len(table.headers) and c.strip()}
        yield line, values, extra


def validate(table: Table, columns: dict[str, int]) -> list[tuple[int, dict, dict]]:
    """Every row checked before anything is written; errors name their line."""
    errors, seen, good = [], {}, []
    for line, values, extra in _records(table, columns):
        problems = []
        rid = values.get("response_id", "")
        if not rid:
            problems.append("empty response id")
        elif rid in seen:
            problems.append(f"response id {rid!r} already on line {seen[rid]}")
        if not values.get("title"):
            problems.append("empty title")
        email = values.get("email", "")
        if email and not EMAIL.match(email):
            problems.append(f"not an email address: {email!r}")
        if problems:
            errors.append(f"line {line}: " + "; ".join(problems))
        seen.setdefault(rid, line)
        good.append((line, values, extra))
    if errors:
        raise ImportFailed(f"{len(errors)} bad row(s); nothing was imported", errors)
    return good


FIELDS = ("email", "title", "name", "organisation", "country", "level", "summary",
          "submitted_at", "language")


async def import_briefs(
    ctx: Context, path: Path, *, mapping_file: Path | None = None, actor: str = "cli",
    progress: bool = False,
) -> ImportReport:
    """Upsert the file's records by response id in one transaction, then re-match."""
    path = Path(path)
    if not path.is_file():
        raise ImportFailed(f"no such file: {path}")
    table = read_table(path)
    columns = map_columns(table.headers, load_mapping(mapping_file))
    records = validate(table, columns)
    report = ImportReport(rows=len(records),
                          columns={k: table.headers[v] for k, v in columns.items()})
    report.ignored_columns = [h for i, h in enumerate(table.headers)
                              if i not in columns.values()]
    async with ctx.db.writer()() as session, session.begin():
        existing = {b.response_id: b for b in await all_briefs(session)}
        taken = {b.ref for b in existing.values()}
        for _line, values, extra in tqdm(records, disable=not progress, unit="row",
                                         desc=f"import {path.name}"):
            _upsert(ctx, session, existing, taken, values, extra, report)
        add_event(session, actor, "import", None, None, file=path.name, rows=report.rows,
                  created=report.created, updated=report.updated)
    return report


def _upsert(ctx, session, existing, taken, values, extra, report) -> None:  # noqa: ANN001
    fields = {name: (values.get(name) or None) for name in FIELDS}
    if fields["email"]:
        fields["email"] = fields["email"].lower()
    brief = existing.get(values["response_id"])
    if brief is None:
        code = new_code(ctx.settings.ref_prefix)
        while code in taken:
            code = new_code(ctx.settings.ref_prefix)
        taken.add(code)
        brief = Brief(ref=code, response_id=values["response_id"], source="survey",
                      contacts=[], extra=extra, **fields)
        session.add(brief)
        existing[brief.response_id] = brief
        report.created += 1
        return
    changed = {k: v for k, v in fields.items() if getattr(brief, k) != v}
    if changed or brief.extra != extra:
        for name, value in changed.items():
            setattr(brief, name, value)
        brief.extra = extra
        report.updated += 1
    else:
        report.unchanged += 1
