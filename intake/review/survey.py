"""Survey import: read CSV/XLSX/JSON exports, map columns, upsert briefs all-or-nothing."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from intake.context import Context
from intake.review.survey_files import ImportFailed, Table, key, position, read_table
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
    "submitted_at": ["submitted at", "submitted", "submission date", "submission time",
                     "survey timestamp", "recorded date", "timestamp", "end date", "date"],
    "language": ["language", "langue", "idioma"],
}
# When no header is one of the names above, a header holding one of these words is taken
# ("What is the title of your practice?", "Ihre E-Mail-Adresse"): surveys ask in sentences.
CONTAINS: dict[str, tuple[str, ...]] = {
    "title": ("title", "titre", "titulo", "título", "titel", "название", "标题", "عنوان"),
    "email": ("email", "e mail", "mail", "courriel", "correo", "почта", "邮件", "البريد"),
}
REQUIRED = ("response_id", "title")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
Choice = dict[str, list[str]]  # brief field → names of the column (none: the field is unused)


@dataclass
class ImportReport:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rematched: int = 0
    columns: dict[str, str] = field(default_factory=dict)  # brief field → header used
    ignored_columns: list[str] = field(default_factory=list)
    header_rows: list[str] = field(default_factory=list)  # recognised under the first, skipped


def as_choice(mapping: dict[str, object]) -> Choice:
    """{"title": "Q3", "email": ["Contact"], "name": null} → lists; unknown fields refused."""
    choice: Choice = {}
    for name, headers in mapping.items():
        if name not in DEFAULT_MAPPING:
            raise ImportFailed(f"mapping: unknown field {name!r}; known: "
                               f"{', '.join(DEFAULT_MAPPING)}")
        if headers is None or isinstance(headers, str):
            headers = [headers] if headers else []
        choice[name] = [str(h) for h in headers]
    return choice


def load_mapping(path: Path | None) -> Choice:
    """The fields a JSON file {"field": "Header"} names (by header, "Question / Answer", or
    position "#C" / "#3"); the others are recognised."""
    if path is None:
        return {}
    try:
        custom = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ImportFailed(f"cannot read mapping file {path}: {exc}") from None
    if not isinstance(custom, dict):
        raise ImportFailed(f"mapping file {path}: not a JSON object {{\"field\": \"Header\"}}")
    return as_choice(custom)


def map_columns(table: Table, chosen: Choice | None = None, preferred: Choice | None = None,
                *, require: bool = True) -> dict[str, int]:
    """Brief field → column index. Fields `chosen` must name a column; `preferred` names
    (a mapping remembered from an earlier file) are tried before the default ones. A column
    serves one field; among several recognised, one with answers wins."""
    chosen, preferred = chosen or {}, preferred or {}
    filled = {i for _, cells in table.rows for i, c in enumerate(cells) if c.strip()}
    columns: dict[str, int] = {}
    for name, names in chosen.items():
        found = _find(table, names, set(columns.values()), filled)
        if found is None and names:
            raise ImportFailed(f"mapping: {name} → {', '.join(map(repr, names))} names no "
                               f"column. Columns: {_listing(table)}")
        if found is not None:
            columns[name] = found
    for name, names in DEFAULT_MAPPING.items():
        if name in chosen:
            continue
        taken = set(columns.values())
        # A column picked last time wins even when it has no answers yet.
        found = _find(table, preferred.get(name, []), taken, set(range(len(table.columns))))
        if found is None:
            found = _find(table, names, taken, filled, CONTAINS.get(name, ()))
        if found is not None:
            columns[name] = found
    missing = [name for name in REQUIRED if name not in columns]
    if missing and require:
        wanted = "; ".join(f"{m}: one of {DEFAULT_MAPPING[m][:4]}" for m in missing)
        raise ImportFailed(f"missing column(s) {', '.join(missing)} ({wanted}). Columns "
                           f"found: {_listing(table)}. Use --mapping FILE to name them.")
    return columns


def _listing(table: Table) -> str:
    return ", ".join(f"{c.letter}: {c.name}" for c in table.columns)


def _find(table: Table, names: list[str], taken: set[int], filled: set[int],
          words: tuple[str, ...] = ()) -> int | None:
    """The first column a name (or failing that, a word) fits, preferring one with answers."""
    fits: list[int] = []
    for name in names:
        at = position(name)
        if at is not None:
            fits += [at] if 0 <= at < len(table.columns) else []
            continue
        fits += [c.index for c in table.columns if key(name) in c.names()]
    fits += [c.index for c in table.columns if any(_holds(k, words) for k in c.names())]
    fits = [i for i in dict.fromkeys(fits) if i not in taken]
    return next((i for i in fits if i in filled), fits[0] if fits else None)


def _holds(header_key: str, words: tuple[str, ...]) -> bool:
    spaced = " " + re.sub(r"[^\w]+", " ", header_key) + " "
    return any((f" {w} " in spaced) if w.isascii() else (w in header_key) for w in words)


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


@dataclass
class Plan:
    """A file read and its columns chosen, before anything is written."""

    path: Path
    table: Table
    columns: dict[str, int]  # brief field → column index


def plan(path: Path, *, mapping_file: Path | None = None, chosen: Choice | None = None,
         preferred: Choice | None = None, require: bool = True) -> Plan:
    """Read the file and choose its columns: `chosen` (a form's picks) over the mapping
    file, over `preferred` (remembered), over the names recognised by default. Without
    `require`, a plan may lack the title or response id (to show what there is)."""
    path = Path(path)
    if not path.is_file():
        raise ImportFailed(f"no such file: {path}")
    table = read_table(path)
    choice = {**load_mapping(mapping_file), **(chosen or {})}
    return Plan(path, table, map_columns(table, choice, preferred, require=require))


async def import_briefs(
    ctx: Context, path: Path, *, mapping_file: Path | None = None, actor: str = "cli",
    progress: bool = False, chosen: Choice | None = None, preferred: Choice | None = None,
) -> ImportReport:
    """Upsert the file's records by response id in one transaction, then re-match."""
    return await import_plan(ctx, plan(path, mapping_file=mapping_file, chosen=chosen,
                                       preferred=preferred), actor=actor, progress=progress)


async def import_plan(ctx: Context, chosen: Plan, *, actor: str = "cli",
                      progress: bool = False) -> ImportReport:
    table, columns, path = chosen.table, chosen.columns, chosen.path
    records = validate(table, columns)
    report = ImportReport(rows=len(records), header_rows=table.skipped,
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


def preview(chosen: Plan) -> dict:
    """What an import of this file would do, for a dry run: its columns (letter, name, the
    header row under it, the field it fills, a sample answer), the fields recognised, the
    first row as briefs would get it, and the rows that would stop the import."""
    table, columns = chosen.table, chosen.columns
    fields = {index: name for name, index in columns.items()}
    first = table.rows[0] if table.rows else (0, [])
    missing = [name for name in REQUIRED if name not in columns]
    errors = []
    if not missing:
        try:
            validate(table, columns)
        except ImportFailed as exc:
            errors = exc.errors
    return {
        "file": chosen.path.name, "format": table.kind, "header_rows": table.skipped,
        "rows": len(table.rows),
        "columns": [{"letter": c.letter, "name": c.name, "label": c.label,
                     "field": fields.get(c.index), "sample": _sample(table, c.index)}
                    for c in table.columns],
        "recognised": {name: table.headers[i] for name, i in columns.items()},
        "sample": {"line": first[0], "values": {
            name: (first[1][i].strip() if i < len(first[1]) else "")
            for name, i in columns.items()}},
        "missing": missing, "errors": errors,
    }


async def dry_run(ctx: Context, chosen: Plan) -> dict:
    """The preview, with how many of its response ids are new to the database."""
    shown = preview(chosen)
    if "response_id" in chosen.columns:
        index = chosen.columns["response_id"]
        ids = {cells[index].strip() for _, cells in chosen.table.rows if index < len(cells)}
        async with ctx.db.reader()() as session:
            known = {b.response_id for b in await all_briefs(session)}
        shown["new"], shown["known"] = len(ids - known - {""}), len(ids & known)
    return shown


def _sample(table: Table, index: int) -> str:
    """The first answer in a column (rows may leave it empty)."""
    return next((cells[index].strip() for _, cells in table.rows
                 if index < len(cells) and cells[index].strip()), "")


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


# -- the columns a coordinator picked, remembered for the next file ------------------------

PICKED = "survey.columns"  # the preference holding them
PICKABLE = ("title", "response_id", "email")  # the fields the import page offers to pick


async def remembered(ctx: Context) -> Choice:
    """The columns picked on the last import through the web page, by name."""
    from store.queries import get_preference

    async with ctx.db.reader()() as session:
        return as_choice(await get_preference(session, PICKED))


async def remember(ctx: Context, chosen: Plan, actor: str) -> None:
    from store.queries import set_preference

    names = {name: chosen.table.headers[chosen.columns[name]] if name in chosen.columns else None
             for name in PICKABLE}
    async with ctx.db.writer()() as session, session.begin():
        await set_preference(session, PICKED, names, actor)
