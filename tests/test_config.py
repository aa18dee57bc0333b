"""Settings: defaults for one machine, clear errors for bad values, the optional file."""

from pathlib import Path

import pytest

from intake.config import ConfigError, known_setting_names, load_settings


def test_defaults_run_on_one_machine():
    settings = load_settings({})
    assert settings.smtp_host == "127.0.0.1" and settings.smtp_port == 8025
    assert settings.web_host == "127.0.0.1" and settings.web_port == 8080
    assert settings.data_dir == Path("data")
    assert settings.effective_database_url.startswith("sqlite+aiosqlite:///")
    assert settings.effective_database_url.endswith("data/intake.db")
    assert settings.effective_blob_url.endswith("data/blobs")
    assert settings.smtp_max_bytes == 50_000_000
    assert settings.smtp_recipients == []
    assert settings.ref_prefix == "HLH"


def test_environment_values_are_typed_and_lists_are_comma_separated():
    settings = load_settings({
        "INTAKE_SMTP_PORT": "2525",
        "INTAKE_SMTP_RECIPIENTS": "Videos@Call.org, @practices.example",
        "INTAKE_REF_PREFIX": "ABC",
    })
    assert settings.smtp_port == 2525
    assert settings.smtp_recipients == ["videos@call.org", "@practices.example"]
    assert settings.ref_prefix == "ABC"


@pytest.mark.parametrize(("name", "value", "message"), [
    ("INTAKE_SMTP_PORT", "eighty", "INTAKE_SMTP_PORT"),
    ("INTAKE_SMTP_PORT", "70000", "INTAKE_SMTP_PORT"),
    ("INTAKE_SMTP_RECIPIENTS", "not-an-address", "neither an address nor an @domain"),
    ("INTAKE_REF_PREFIX", "h1", "INTAKE_REF_PREFIX"),
    ("INTAKE_SMTP_MAX_BYTES", "10", "INTAKE_SMTP_MAX_BYTES"),
    ("INTAKE_SMTP_PROT", "25", "unknown setting"),
])
def test_bad_values_are_named_in_the_error(name, value, message):
    with pytest.raises(ConfigError, match=message):
        load_settings({name: value})


def test_config_file_is_read_and_environment_wins(tmp_path):
    config = tmp_path / "intake.env"
    config.write_text("# comment\nINTAKE_SMTP_PORT=2626\nINTAKE_WEB_PORT='9090'\n")
    settings = load_settings({"INTAKE_CONFIG": str(config), "INTAKE_WEB_PORT": "9191"})
    assert settings.smtp_port == 2626
    assert settings.web_port == 9191


def test_missing_config_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_settings({"INTAKE_CONFIG": str(tmp_path / "nope.env")})


def test_public_names_include_the_documented_ones():
    names = known_setting_names()
    for name in ("INTAKE_DATA_DIR", "INTAKE_DATABASE_URL", "INTAKE_SMTP_HOST", "INTAKE_SMTP_PORT",
                 "INTAKE_SMTP_RECIPIENTS", "INTAKE_SMTP_MAX_BYTES", "INTAKE_WEB_HOST",
                 "INTAKE_WEB_PORT", "INTAKE_REF_PREFIX"):
        assert name in names
