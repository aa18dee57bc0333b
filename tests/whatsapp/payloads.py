"""Webhook payloads in the shapes Meta's Cloud API sends (v21), built for the case at hand."""

from __future__ import annotations

import itertools
import json

from channels.whatsapp import sign
from tests.whatsapp.fake_graph import DISPLAY_NUMBER, PHONE_NUMBER_ID

APP_SECRET = "test-app-secret-0123456789abcdef"
VERIFY_TOKEN = "verify-me-please"
WABA_ID = "102290129340398"
_ids = itertools.count(1)


def wamid() -> str:
    return f"wamid.HBgLMTU1NTAxMDQyNDIVAgASGBQz{next(_ids):010d}AA=="


def message(kind: str, body: dict | None = None, *, sender: str = "15550001111",
            context: dict | None = None, ident: str | None = None) -> dict:
    found = {"from": sender, "id": ident or wamid(), "timestamp": "1764680000", "type": kind}
    if body is not None:
        found[kind] = body
    if context:
        found["context"] = context
    return found


def text(body: str, **kw) -> dict:  # noqa: ANN003
    return message("text", {"body": body}, **kw)


def video(media_id: str, caption: str | None = None, **kw) -> dict:  # noqa: ANN003
    body = {"id": media_id, "mime_type": "video/mp4", "sha256": "declared-by-meta"}
    if caption:
        body["caption"] = caption
    return message("video", body, **kw)


def button_reply(choice: str, title: str, to: str, **kw) -> dict:  # noqa: ANN003
    return message("interactive", {"type": "button_reply",
                                   "button_reply": {"id": choice, "title": title}},
                   context={"from": PHONE_NUMBER_ID, "id": to}, **kw)


def list_reply(choice: str, title: str, to: str, **kw) -> dict:  # noqa: ANN003
    return message("interactive", {"type": "list_reply",
                                   "list_reply": {"id": choice, "title": title,
                                                  "description": "row"}},
                   context={"from": PHONE_NUMBER_ID, "id": to}, **kw)


def status(of: str, state: str = "delivered", recipient: str = "15550001111") -> dict:
    return {"id": of, "status": state, "timestamp": "1764680100", "recipient_id": recipient,
            "conversation": {"id": "c0ffee", "origin": {"type": "service"}},
            "pricing": {"billable": False, "pricing_model": "PMP", "category": "service"}}


def value(messages: list[dict] = (), statuses: list[dict] = (), name: str = "Amina") -> dict:
    found = {"messaging_product": "whatsapp",
             "metadata": {"display_phone_number": DISPLAY_NUMBER.strip("+").replace(" ", "")
                          .replace("-", ""), "phone_number_id": PHONE_NUMBER_ID}}
    senders = sorted({m["from"] for m in messages})
    if senders:
        found["contacts"] = [{"profile": {"name": name}, "wa_id": s} for s in senders]
    if messages:
        found["messages"] = list(messages)
    if statuses:
        found["statuses"] = list(statuses)
    return found


def payload(*values: dict, entries: int = 1) -> dict:
    """values spread over `entries` entries, one change each (as Meta batches them)."""
    groups = [list(values[n::entries]) for n in range(entries)]
    return {"object": "whatsapp_business_account",
            "entry": [{"id": WABA_ID, "changes": [{"field": "messages", "value": v}
                                                 for v in group]} for group in groups]}


def signed(data: dict | bytes, secret: str = APP_SECRET) -> tuple[bytes, dict]:
    body = data if isinstance(data, bytes) else json.dumps(data).encode()
    return body, {"X-Hub-Signature-256": sign(secret, body), "Content-Type": "application/json"}
