"""compose.yaml, checked without Docker: the Compose schema, real `intake` commands, known
settings with valid values, and the services the scale-out deployment promises."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from intake.cli.main import build_parser
from intake.config import ConfigError, known_setting_names, load_settings

yaml = pytest.importorskip("yaml", reason="PyYAML is in the test extra")

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "compose.yaml"
ENV_EXAMPLE = ROOT / "deploy" / "intake.env.example"
DOCKERFILE = ROOT / "Dockerfile"
# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}; $$ is a literal $.
VARIABLE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def _compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def _env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, sep, value = line.partition("=")
            assert sep, f"not NAME=value: {line!r}"
            values[name] = value
    return values


def _interpolate(text: str, env: dict[str, str]) -> str:
    def value(match: re.Match) -> str:
        name, op, arg = match.groups()
        if env.get(name):
            return env[name]
        if op and "?" in op:
            raise AssertionError(f"${{{name}}} is required but not in {ENV_EXAMPLE.name}")
        return arg or ""

    return VARIABLE.sub(value, text).replace("$$", "$")


def _intake_services(compose: dict) -> dict[str, dict]:
    return {name: s for name, s in compose["services"].items() if "build" in s}


def _environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.partition("=")[::2] for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def test_compose_follows_the_compose_specification():
    schemas = pytest.importorskip("check_jsonschema.builtin_schemas",
                                  reason="check-jsonschema (test extra) ships the Compose schema")
    import jsonschema

    schema = schemas.get_builtin_schema("vendor.compose-spec")
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = sorted(validator.iter_errors(_compose()), key=str)
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_every_service_command_is_a_real_intake_command():
    services = _intake_services(_compose())
    assert {"migrate", "smtp", "web", "worker", "imap", "telegram"} <= set(services)
    for name, service in services.items():
        command = service["command"]
        assert isinstance(command, list) and command[0] == "intake", name
        args = build_parser().parse_args(command[1:])  # exits (fails the test) if it is not
        assert callable(args.func), name
    assert build_parser().parse_args(services["worker"]["command"][1:]).only == ["worker"]
    assert build_parser().parse_args(services["telegram"]["command"][1:]).only == [
        "worker", "telegram"]


def test_every_intake_setting_named_is_known():
    known = known_setting_names()
    named = set(_env_example())
    for service in _compose()["services"].values():
        named |= set(_environment(service))
    unknown = sorted(n for n in named if n.startswith("INTAKE_") and n not in known)
    assert unknown == []


def test_each_intake_service_gets_valid_settings():
    """What a container would see (env file, then compose's own lines): load_settings accepts it."""
    example = _env_example()
    for name, service in _intake_services(_compose()).items():
        env = {k: _interpolate(v, example) for k, v in example.items()}
        env.update({k: _interpolate(v, example) for k, v in _environment(service).items()})
        try:
            settings = load_settings(env)
        except ConfigError as exc:
            raise AssertionError(f"{name}: {exc}") from None
        assert settings.effective_database_url.startswith("postgresql+asyncpg://"), name
        assert settings.effective_blob_url.startswith("s3://"), name


def test_every_variable_compose_needs_is_in_the_example():
    example = _env_example()
    required = {m.group(1) for m in VARIABLE.finditer(COMPOSE.read_text(encoding="utf-8"))
                if m.group(2) and "?" in m.group(2)}
    assert required and required <= set(example)


def test_the_scale_out_services_are_there():
    compose = _compose()
    services = compose["services"]
    assert services["worker"]["deploy"]["replicas"] == 2
    smtp = services["smtp"]
    assert smtp["ports"] == ["25:8025"]
    assert _environment(smtp)["INTAKE_SMTP_HOST"] == "0.0.0.0"
    assert _environment(smtp)["INTAKE_SMTP_PORT"] == "8025"
    assert "/healthz" in " ".join(services["web"]["healthcheck"]["test"])
    for name in ("postgres", "minio", "smtp", "web", "worker", "imap", "telegram"):
        assert "healthcheck" in services[name], name
    assert services["createbucket"]["image"].endswith("minio/mc:latest}")
    assert "mc mb" in " ".join(services["createbucket"]["command"])
    assert services["createbucket"]["depends_on"]["minio"]["condition"] == "service_healthy"
    assert services["telegram-bot-api"]["profiles"] == ["telegram-local"]
    assert {"pgdata", "minio-data", "telegram-bot-api-data"} <= set(compose["volumes"])
    for name, service in _intake_services(compose).items():
        if name != "migrate":
            assert service["depends_on"]["migrate"]["condition"] == \
                "service_completed_successfully", name
            assert service["init"] is True, name  # SIGTERM reaches intake, zombies reaped


def test_the_image_is_python_311_slim_with_ffmpeg_and_the_s3_extra():
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.11-slim$", text, re.M)
    assert "ffmpeg" in text and "pip install --no-cache-dir '.[s3]'" in text
    assert re.search(r"^USER intake$", text, re.M)  # not root
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert "deploy/intake.env" in ignored  # secrets stay out of the image
