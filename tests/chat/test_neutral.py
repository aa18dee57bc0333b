"""The chat core names no chat app: what differs between apps sits behind channels/chat.py."""

from __future__ import annotations

import re
from pathlib import Path

from channels.chat import ChatTransport
from channels.telegram import TelegramChannel, TelegramOptions

REPO = Path(__file__).resolve().parents[2]
CORE = REPO / "intake" / "chat"


def test_no_module_of_the_chat_core_names_telegram():
    modules = sorted(CORE.glob("*.py"))
    assert len(modules) >= 5  # the glob found the core
    named = [f"{m.relative_to(REPO)}:{n}" for m in modules
             for n, line in enumerate(m.read_text(encoding="utf-8").splitlines(), 1)
             if re.search("telegram", line, re.IGNORECASE)]
    assert named == []


def test_the_chat_core_imports_no_adapter():
    imports = re.compile(r"^\s*(?:from|import)\s+(channels\.\w+|parsers\.\w+)", re.MULTILINE)
    used = {name for m in CORE.glob("*.py") for name in imports.findall(m.read_text())}
    adapters = {name for name in used if name.startswith("channels.")} - {
        "channels.chat", "channels.contract"}
    assert adapters == set()
    assert "parsers.telegram" not in used


async def test_the_telegram_channel_is_a_chat_transport():
    async def nowhere(raws):
        raise AssertionError("not receiving")

    channel = TelegramChannel(TelegramOptions(token="42:secret"), nowhere)
    assert isinstance(channel, ChatTransport)
    assert (channel.name, channel.id_prefix, channel.content_type) == (
        "telegram", "tg", "application/vnd.telegram.update+json")
    assert channel.handle is None and channel.deep_link("REF") is None  # not connected yet
    assert channel.download_limit == 20_000_000 and channel.reply_window is None
