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


def _problems(tmp_path, **values) -> list[str]:
    from intake.cli.checks import check_settings

    try:
        check_settings(load_settings({}, data_dir=tmp_path, **values))
    except ConfigError as exc:
        return str(exc).splitlines()
    return []


def test_start_up_checks_pass_on_the_defaults(tmp_path):
    assert _problems(tmp_path) == []


def test_a_relay_without_our_address_is_named(tmp_path):
    [line] = _problems(tmp_path, smtp_relay_url="smtp://127.0.0.1:25")
    assert line.startswith("INTAKE_ACK_FROM: INTAKE_SMTP_RELAY_URL is set")
    assert _problems(tmp_path, smtp_relay_url="smtp://127.0.0.1:25",
                     ack_from="videos@intake.example") == []


def test_half_a_tls_setting_or_an_unreadable_certificate_is_named(tmp_path):
    [line] = _problems(tmp_path, smtp_tls_cert=tmp_path / "cert.pem")
    assert line.startswith("INTAKE_SMTP_TLS_CERT: STARTTLS needs both")
    (tmp_path / "cert.pem").write_text("not a certificate")
    [line] = _problems(tmp_path, smtp_tls_cert=tmp_path / "cert.pem",
                       smtp_tls_key=tmp_path / "cert.pem")
    assert line.startswith(f"INTAKE_SMTP_TLS_CERT: cannot load {tmp_path / 'cert.pem'}")


@pytest.mark.parametrize(("pattern", "reason"), [
    (r"response (\d+", "not a regular expression"),
    (r"response (\d+)", "needs a named group"),
])
def test_a_response_id_pattern_must_compile_with_an_id_group(tmp_path, pattern, reason):
    [line] = _problems(tmp_path, response_id_pattern=pattern)
    assert line.startswith(f"INTAKE_RESPONSE_ID_PATTERN: {reason}")
    assert _problems(tmp_path, response_id_pattern=r"ref (?P<id>\d+)") == []
