"""Survey export files read into one table: encodings, delimiters, and the extra header rows
Qualtrics and SurveyMonkey write under the first."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

# SurveyMonkey's second header row names the answer under each question; on a one-answer
# question it is one of these words (in the export's language).
SUB_ANSWERS = {"response", "open-ended response", "other (please specify)", "antwort",
               "offene antwort", "réponse", "réponse ouverte", "respuesta", "respuesta abierta",
               "resposta", "resposta aberta", "risposta", "risposta aperta"}
QUALTRICS_ID = re.compile(r"^R_[0-9A-Za-z]{10,}$")  # a response id: R_1dA8kQx2LmZp3Rt
POSITION = re.compile(r"^#\s*(?:(\d+)|([A-Za-z]{1,3}))$")  # "#3" or "#C": a column by position


class ImportFailed(Exception):
    """The file cannot be imported; nothing was written. `errors` lists what to fix."""

    def __init__(self, message: str, errors: list[str] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []


def letter(index: int) -> str:
    """0 → "A", 25 → "Z", 26 → "AA": the column's name in a spreadsheet."""
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(65 + rest) + name
    return name


def position(text: str) -> int | None:
    """The 0-based column a mapping names by position ("#3", "#C"), else None."""
    found = POSITION.match(text.strip())
    if not found:
        return None
    if found.group(1):
        return int(found.group(1)) - 1
    number = 0
    for char in found.group(2).upper():
        number = number * 26 + ord(char) - 64
    return number - 1


def key(header: str) -> str:
    """How headers are compared: case, spaces, dashes and underscores do not count."""
    return re.sub(r"[\s_\-]+", " ", str(header or "")).strip().casefold()


@dataclass
class Column:
    index: int
    name: str  # shown in reports and used as the key of extra data; "#C" when it has none
    label: str = ""  # the header row under it: Qualtrics' question text, SurveyMonkey's answer
    aliases: tuple[str, ...] = ()  # more names a mapping may use (the bare question)

    @property
    def letter(self) -> str:
        return letter(self.index)

    def names(self) -> set[str]:
        """Every name it answers to, as compared (see key)."""
        return {key(n) for n in (self.name, self.label, *self.aliases) if n}


@dataclass
class Table:
    columns: list[Column]
    rows: list[tuple[int, list[str]]]  # (line number in the file, cells)
    kind: str = "plain"  # plain | qualtrics | surveymonkey
    skipped: list[str] = field(default_factory=list)  # header rows recognised under the first

    @property
    def headers(self) -> list[str]:
        return [c.name for c in self.columns]


def read_table(path: Path) -> Table:
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return shape(_read_xlsx(path), path)
    if suffix == ".json":
        return _read_json(path)
    return shape(_read_csv(path), path)


def _read_csv(path: Path) -> list[tuple[int, list[str]]]:
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
    # The line a row starts on: reader.line_num is where it ends (a cell may hold newlines).
    lines, start = [], 1
    for cells in reader:
        lines.append((start, cells))
        start = reader.line_num + 1
    return lines


def _read_xlsx(path: Path) -> list[tuple[int, list[str]]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zipfile/KeyError/InvalidFileException...
        raise ImportFailed(f"{path}: not a readable XLSX file ({exc})") from None
    lines = [(number, ["" if v is None else str(v) for v in values])
             for number, values in enumerate(book.worksheets[0].iter_rows(values_only=True), 1)]
    book.close()
    return lines


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
    return Table([Column(i, h or f"#{letter(i)}") for i, h in enumerate(headers)], rows)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


# -- header rows ---------------------------------------------------------------------------


def shape(lines: list[tuple[int, list[str]]], path: Path) -> Table:
    """The first line names the columns; the header rows some tools add under it are
    recognised, folded into the columns, and not read as data."""
    lines = [(n, cells) for n, cells in lines if any(str(c).strip() for c in cells)]
    if not lines:
        raise ImportFailed(f"{path}: the file is empty")
    (_, headers), body = lines[0], lines[1:]
    width = max(len(cells) for _, cells in lines)
    headers = [h.strip() for h in headers] + [""] * (width - len(headers))
    if _qualtrics(headers, body):
        return _qualtrics_table(headers, body)
    if body and _sub_answers(headers, body[0][1]):
        return _surveymonkey_table(headers, body)
    return Table([Column(i, h or f"#{letter(i)}") for i, h in enumerate(headers)], body)


def _import_ids(cells: list[str]) -> bool:
    """Qualtrics' third header row: {"ImportId": "QID3_TEXT"} in (nearly) every cell."""
    filled = [c.strip() for c in cells if c.strip()]
    hits = sum(1 for c in filled if c.startswith("{") and "ImportId" in c and _json_object(c))
    return bool(filled) and hits * 2 >= len(filled)


def _json_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


def _qualtrics(headers: list[str], body: list) -> bool:
    """Qualtrics' own column ids, or its ImportId row within the first rows."""
    if "ResponseId" in headers and ("StartDate" in headers or "RecordedDate" in headers):
        return True
    return any(_import_ids(cells) for _, cells in body[:2])


def _qualtrics_table(headers: list[str], body: list) -> Table:
    labels, skipped = [""] * len(headers), []
    rid = headers.index("ResponseId") if "ResponseId" in headers else None
    for _ in range(2):
        if not body:
            break
        cells = body[0][1]
        if _import_ids(cells):
            skipped.append("import ids")
        elif not skipped and _label_row(cells, rid, body[1:2]):
            labels = [c.strip() for c in cells] + [""] * (len(headers) - len(cells))
            skipped.append("question texts")
        else:
            break
        body = body[1:]
    columns = [Column(i, h or labels[i] or f"#{letter(i)}", labels[i] if h else "")
               for i, h in enumerate(headers)]
    return Table(columns, body, "qualtrics", skipped)


def _label_row(cells: list[str], rid: int | None, following: list) -> bool:
    """Qualtrics' second row (question texts): followed by the ImportId row, or holding a
    label, not an R_… id, under ResponseId."""
    if following and _import_ids(following[0][1]):
        return True
    value = cells[rid].strip() if rid is not None and rid < len(cells) else ""
    return bool(value) and not QUALTRICS_ID.match(value)


def _sub_answers(headers: list[str], cells: list[str]) -> bool:
    """SurveyMonkey's second header row: nothing under the first column (the respondent
    id), and answer names under the questions ("Response", "Open-Ended Response", or the
    choices of a question whose later columns have no header of their own)."""
    if not cells or cells[0].strip() or not any(c.strip() for c in cells):
        return False
    if any(c.strip().casefold() in SUB_ANSWERS for c in cells):
        return True
    # Choices are always named, so every header-less column (but the first) has a name here,
    # and SurveyMonkey's own columns (respondent and collector ids, dates…) have none; a data
    # row that merely lacks its id has its next answer filled.
    unnamed = [i for i, h in enumerate(headers) if i > 0 and not h]
    return (len(cells) > 1 and not cells[1].strip() and bool(unnamed)
            and all(i < len(cells) and cells[i].strip() for i in unnamed))


def _surveymonkey_table(headers: list[str], body: list) -> Table:
    """Column names "Question / Answer"; a question spanning columns names each of them."""
    subs = [c.strip() for c in body[0][1]] + [""] * (len(headers) - len(body[0][1]))
    columns, question = [], ""
    for i, header in enumerate(headers):
        question = header or question
        sub = subs[i]
        name = f"{question} / {sub}" if question and sub else (question or sub)
        aliases = (header,) if header and sub else ()
        columns.append(Column(i, name or f"#{letter(i)}", sub, aliases))
    return Table(columns, body[1:], "surveymonkey", ["answer names"])
