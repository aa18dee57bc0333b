"""Brief search: a brief's words normalised as matching normalises them, kept in its row."""

from __future__ import annotations

from sqlalchemy import event, select

from parsers.normalise import tokens
from parsers.refcode import one_slip_away, read_code
from store.db import Database
from store.models import Brief

MAX_WORDS = 8  # of a query: each is one LIKE over the briefs


def brief_words(brief: Brief) -> str:
    """" w1 w2 … ": the words of code, title, email, name and organisation, accents and
    case folded; the spaces around let a LIKE '% word%' match the start of any word."""
    fields = (brief.ref, brief.title, brief.email, brief.name, brief.organisation,
              brief.response_id)
    return " " + " ".join(tokens(" ".join(f for f in fields if f))) + " "


def _fill(_mapper, _connection, brief: Brief) -> None:  # noqa: ANN001 - a mapper event
    brief.search_text = brief_words(brief)


def watch_briefs() -> None:
    """Fill search_text on every insert and update of a brief, whoever writes it (survey
    import, chat /new, a coordinator). Registered once per process by build_context."""
    for name in ("before_insert", "before_update"):
        if not event.contains(Brief, name, _fill):
            event.listen(Brief, name, _fill)


async def fill_missing(db: Database, batch: int = 1000) -> int:
    """Fill the briefs written before search_text existed (after migration 0006)."""
    done = 0
    while True:
        async with db.writer()() as session, session.begin():
            query = select(Brief).where(Brief.search_text.is_(None)).limit(batch)
            briefs = list(await session.scalars(query))
            for brief in briefs:
                brief.search_text = brief_words(brief)
        done += len(briefs)
        if len(briefs) < batch:
            return done


def query_terms(text: str, prefix: str) -> tuple[list[str], list[str]]:
    """What to look for: the codes `text` may mean (read leniently; a failed check gives the
    codes one slip away) and its normalised words."""
    code = read_code(text, prefix)
    codes = [] if code is None else [code.code] if code.valid else one_slip_away(code.code)
    return codes, tokens(text)[:MAX_WORDS]
