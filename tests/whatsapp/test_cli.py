"""`intake whatsapp check`, the wa.me links of the links kit, and the settings checks."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from intake.config import ConfigError, load_settings
from intake.media.links import brief_links
from tests.whatsapp.fake_graph import DISPLAY_NUMBER

REPO = Path(__file__).resolve().parents[2]


async def _run_cli(env: dict, *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "intake.cli", *args, env=env, cwd=str(REPO),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 120)
    return process.returncode, out.decode(), err.decode()


async def test_whatsapp_check_verifies_token_and_number(graph, tmp_path):
    env = {**os.environ, "INTAKE_DATA_DIR": str(tmp_path / "data"),
           "INTAKE_WHATSAPP_TOKEN": graph.token, "INTAKE_WHATSAPP_API_URL": graph.api_url,
           "INTAKE_WHATSAPP_PHONE_NUMBER_ID": graph.phone_number_id}
    good = await _run_cli(env, "whatsapp", "check")
    as_json = await _run_cli(env, "whatsapp", "check", "--json")
    bad = await _run_cli({**env, "INTAKE_WHATSAPP_TOKEN": "EAA-wrong"}, "whatsapp", "check")
    other = await _run_cli({**env, "INTAKE_WHATSAPP_PHONE_NUMBER_ID": "42"}, "whatsapp",
                           "check")
    unset = await _run_cli({**env, "INTAKE_WHATSAPP_TOKEN": ""}, "whatsapp", "check")
    assert good[0] == 0, good
    assert DISPLAY_NUMBER in good[1] and "https://wa.me/15550104242?text=<REF>" in good[1]
    assert "INTAKE_WHATSAPP_NUMBER=15550104242" in good[2]  # the links kit hint
    assert json.loads(as_json[1])["phone_number_id"] == graph.phone_number_id
    assert bad[0] == 1 and "190" in bad[2] and "EAA-wrong" not in bad[1] + bad[2]
    assert other[0] == 1 and "42" in other[2]
    assert unset[0] == 2


def test_the_links_kit_has_a_wa_me_link_when_the_number_is_set(tmp_path):
    settings = load_settings({}, data_dir=tmp_path, whatsapp_number=DISPLAY_NUMBER)
    links = brief_links(settings, "HLH-7K2QX-4", "Water points")
    without = brief_links(load_settings({}, data_dir=tmp_path), "HLH-7K2QX-4", "Water points")
    assert links["whatsapp"] == "https://wa.me/15550104242?text=HLH-7K2QX-4"
    assert without["whatsapp"] is None


def test_a_webhook_without_its_app_secret_stops_start_up():
    with pytest.raises(ConfigError, match="INTAKE_WHATSAPP_APP_SECRET"):
        load_settings({"INTAKE_WHATSAPP_VERIFY_TOKEN": "verify-me"})
    with pytest.raises(ConfigError, match="INTAKE_WHATSAPP_PHONE_NUMBER_ID"):
        load_settings({"INTAKE_WHATSAPP_TOKEN": "EAA-token"})
    assert load_settings({"INTAKE_WHATSAPP_VERIFY_TOKEN": "v",
                          "INTAKE_WHATSAPP_APP_SECRET": "s"}).whatsapp_app_secret
