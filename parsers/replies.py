"""What a submitter wrote in a reply, without the quoted message: the codes they state."""

from __future__ import annotations

import re
from collections.abc import Iterable

from parsers.refcode import find_codes

# Where a reply's own words end and the quoted message begins, in the mail clients'
# English, French and Spanish wordings.
_QUOTE_HEADER = re.compile(
    r"^\s*(?:-{2,}\s*(?:original\s+message|forwarded\s+message|message\s+d'origine"
    r"|message\s+transf[ée]r[ée]|mensaje\s+original|mensaje\s+reenviado)\s*-{2,}"
    r"|_{10,})\s*$"
    r"|(?:wrote|a\s+[ée]crit|escribi[óo])\s*:\s*$",
    re.IGNORECASE,
)
# Outlook's quoted header block: "From: …" followed within a few lines by "Sent: …" etc.
_OUTLOOK_FROM = re.compile(r"^\s*\*?(?:from|de|von)\s*:\*?\s", re.IGNORECASE)
_OUTLOOK_NEXT = re.compile(
    r"^\s*\*?(?:sent|date|envoy[ée]|enviado|fecha|subject|objet|asunto|to|[àa]|para)\s*:",
    re.IGNORECASE,
)


def _outlook_block(lines: list[str], index: int) -> bool:
    if not _OUTLOOK_FROM.match(lines[index]):
        return False
    return any(_OUTLOOK_NEXT.match(line) for line in lines[index + 1 : index + 5])


def own_words(text: str) -> str:
    """The reply's text above the quoted message, with "> " lines dropped."""
    lines = (text or "").splitlines()
    kept = []
    for index, line in enumerate(lines):
        if _QUOTE_HEADER.search(line) or _outlook_block(lines, index):
            break
        if not line.lstrip().startswith(">"):
            kept.append(line)
    return "\n".join(kept)


def stated_codes(subject: str, text: str, prefix: str, exclude: Iterable[str] = ()) -> list[str]:
    """Valid codes the submitter wrote in a reply (subject and own words), first seen first,
    leaving out `exclude` (the code our acknowledgement named, which a reply quotes)."""
    skip = {code.upper() for code in exclude}
    found: list[str] = []
    for source in (own_words(text), subject or ""):
        for hit in find_codes(source, prefix):
            if hit.valid and hit.code not in skip and hit.code not in found:
                found.append(hit.code)
    return found
