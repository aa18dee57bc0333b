"""One typed settings object, read from INTAKE_* environment variables and an optional file."""

from __future__ import annotations

import os
from ipaddress import ip_network
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

MB = 1_000_000


class ConfigError(Exception):
    """A setting has a bad value; the message names it and says why."""


class Settings(BaseSettings):
    """Every setting of intake. Defaults run everything on one machine under ./data."""

    model_config = SettingsConfigDict(
        env_prefix="INTAKE_", extra="forbid", validate_default=True, frozen=True
    )

    # Storage
    data_dir: Path = Path("data")
    database_url: str = ""  # empty: sqlite+aiosqlite:///<data_dir>/intake.db
    blob_url: str = ""  # empty: file://<data_dir>/blobs; s3://bucket/prefix for scale-out
    s3_endpoint_url: str = ""
    s3_region: str = "us-east-1"
    s3_access_key_id: str = ""
    s3_secret_access_key: SecretStr = SecretStr("")

    # SMTP channel
    smtp_enabled: bool = True
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(8025, ge=0, le=65535)
    smtp_hostname: str = "intake.localhost"  # name in the banner; never looked up by DNS
    smtp_recipients: list[str] = Field(default_factory=list)  # addresses or @domains; empty: any
    smtp_max_bytes: int = Field(50 * MB, ge=64_000)
    smtp_max_sessions: int = Field(32, ge=1)
    smtp_timeout: int = Field(300, ge=10)
    smtp_lmtp: bool = False
    smtp_tls_cert: Path | None = None
    smtp_tls_key: Path | None = None

    # IMAP channel (issue: IMAP intake)
    imap_urls: list[str] = Field(default_factory=list)  # imaps://user@host:993/INBOX, ...
    imap_password: SecretStr = SecretStr("")
    imap_password_file: Path | None = None
    imap_move_to: str = ""  # empty: flag \Seen + keyword; else MOVE to this folder
    imap_keyword: str = "$IntakeAccepted"
    imap_batch: int = Field(200, ge=1, le=1000)
    imap_poll_seconds: int = Field(60, ge=1)
    imap_idle_seconds: int = Field(540, ge=10, le=1740)  # re-IDLE well before 29 minutes
    imap_tls_verify: bool = True

    # Telegram channel (issue: Telegram intake)
    telegram_token: SecretStr = SecretStr("")
    telegram_api_url: str = ""  # empty: Telegram's cloud Bot API; else a local Bot API server
    telegram_local_mode: bool = False
    telegram_webhook_url: str = ""  # empty: long polling
    telegram_webhook_secret: SecretStr = SecretStr("")
    # the bot's @username, for t.me deep links in `intake briefs links`; empty: no links
    telegram_bot_username: str = Field("", pattern=r"^@?(?:[A-Za-z][A-Za-z0-9_]{3,31})?$")

    # WhatsApp channel (issue #16: WhatsApp intake). The webhook is served by the web app at
    # /whatsapp/webhook once the verify token is set; sending needs the token and number id.
    whatsapp_verify_token: SecretStr = SecretStr("")  # what Meta's GET handshake must show
    whatsapp_app_secret: SecretStr = SecretStr("")  # signs every POST (X-Hub-Signature-256)
    whatsapp_token: SecretStr = SecretStr("")  # Graph API access token (system user)
    whatsapp_api_url: str = Field("https://graph.facebook.com/v21.0", pattern=r"^https?://\S+$")
    whatsapp_phone_number_id: str = Field("", pattern=r"^[0-9]*$")
    # the number people write to, for wa.me links (`intake briefs links`); empty: no links
    whatsapp_number: str = Field("", pattern=r"^\+?[0-9][0-9 \-]{5,20}$|^$")
    whatsapp_template: str = Field("", pattern=r"^[a-z0-9_]*$")  # approved; outside 24 h
    whatsapp_template_language: str = Field("en", pattern=r"^[a-z]{2,3}(_[A-Z]{2})?$")

    # Outbound mail (acknowledgements)
    smtp_relay_url: str = ""  # smtp://user@host:587 (STARTTLS) or smtps://; empty: no acks
    smtp_relay_password: SecretStr = SecretStr("")
    smtp_relay_password_file: Path | None = None
    ack_from: str = ""  # our address; also never answered

    # Web app
    web_enabled: bool = True
    web_base_url: str = ""  # public URL of the web app, for links in messages
    web_host: str = "127.0.0.1"
    web_port: int = Field(8080, ge=0, le=65535)
    web_secret: SecretStr = SecretStr("")  # empty: generated once and kept in data_dir
    web_upload_max_bytes: int = Field(50 * MB, ge=1024)  # survey files uploaded in the app
    web_claim_minutes: int = Field(10, ge=1, le=240)  # review lock taken on opening an item
    # The reverse proxy in front (addresses or networks): its X-Forwarded-For/-Proto/-Host
    # are believed, from it alone. Empty: clients connect directly.
    web_trusted_proxies: list[str] = Field(default_factory=list)

    # Upload page (issue 14: resumable tus uploads for files no email or chat can carry)
    upload_max_bytes: int = Field(5_000_000_000, ge=1024)  # declared Upload-Length cap
    upload_expire_hours: int = Field(48, ge=1, le=24 * 90)  # unfinished uploads removed after
    upload_link_days: int = Field(60, ge=1, le=3650)  # private /u/<token> links last this long
    upload_min_free_bytes: int = Field(2_000_000_000, ge=0)  # refuse new uploads under this
    upload_creations_per_hour: int = Field(30, ge=1)  # new uploads per client address

    # Processing and matching
    workers: int = Field(1, ge=1, le=32)  # parsing processes
    max_attempts: int = Field(5, ge=1)
    ref_prefix: str = Field("HLH", pattern=r"^[A-Z]{2,6}$")
    response_id_pattern: str = ""  # empty: the built-in multilingual pattern
    title_threshold: float = Field(0.85, gt=0, le=1)
    title_margin: float = Field(0.10, ge=0, lt=1)
    log_json: bool = False
    # A /metrics listener for this process's own figures (workers without the web role);
    # 0: none. The web app serves /metrics on its own port regardless.
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(0, ge=0, le=65535)

    # Link fetching (issue #13: videos sent as links are fetched into the store)
    link_fetch: bool = True  # fetch the file behind Drive, Dropbox, WeTransfer… links
    link_max_bytes: int = Field(4_000_000_000, ge=1024)  # enforced while streaming
    link_concurrency: int = Field(2, ge=1, le=32)  # fetches at once per worker process
    link_attempts: int = Field(5, ge=1)  # tries of a link whose provider fails to answer
    link_connect_timeout: float = Field(15.0, gt=0)  # seconds to connect
    link_read_timeout: float = Field(60.0, gt=0)  # seconds without a byte before resuming
    link_allow_private: bool = False  # reach loopback/private addresses (tests, closed nets)
    # Bytes fetched between fsync'd checkpoints: a fetch cut by a restart resumes from the last.
    link_checkpoint_bytes: int = Field(64 << 20, ge=1 << 20)

    @field_validator("smtp_recipients", "imap_urls", "web_trusted_proxies", mode="before")
    @classmethod
    def _split_list(cls, value: Any) -> Any:
        # Lists are comma-separated text in the environment, not JSON.
        if isinstance(value, str):
            return [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]
        return value

    @field_validator("smtp_recipients")
    @classmethod
    def _check_recipients(cls, value: list[str]) -> list[str]:
        for entry in value:
            if "@" not in entry:
                raise ValueError(f"{entry!r} is neither an address nor an @domain")
        return [entry.lower() for entry in value]

    @field_validator("web_trusted_proxies")
    @classmethod
    def _check_proxies(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or network") from None
        return value

    @field_validator("whatsapp_app_secret")
    @classmethod
    def _whatsapp_webhook_signed(cls, value: SecretStr, info: ValidationInfo) -> SecretStr:
        # An unsigned webhook would store whatever anyone posts to it.
        verify = info.data.get("whatsapp_verify_token")
        if verify is not None and verify.get_secret_value() and not value.get_secret_value():
            raise ValueError("the WhatsApp webhook (INTAKE_WHATSAPP_VERIFY_TOKEN is set) needs "
                             "the app secret that signs Meta's POSTs")
        return value

    @field_validator("whatsapp_phone_number_id")
    @classmethod
    def _whatsapp_sender(cls, value: str, info: ValidationInfo) -> str:
        token = info.data.get("whatsapp_token")
        if token is not None and token.get_secret_value() and not value:
            raise ValueError("INTAKE_WHATSAPP_TOKEN is set: say which number sends "
                             "(the phone number id from Meta's WhatsApp Manager)")
        return value

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'intake.db').resolve()}"

    @property
    def effective_blob_url(self) -> str:
        return self.blob_url or f"file://{(self.data_dir / 'blobs').resolve()}"

    @property
    def spool_dir(self) -> Path:
        return self.data_dir / "spool"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # load_settings() reads the environment and the file itself, so that list values
        # are plain comma-separated text and unknown INTAKE_* names are reported.
        return (init_settings,)


def _plain_env(environ: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in environ.items() if k.startswith("INTAKE_") and k != "INTAKE_CONFIG"}


def load_settings(environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
    """Build the settings once, from the environment (or `environ`), with a clear error."""
    environ = dict(os.environ if environ is None else environ)
    values: dict[str, Any] = {}
    config_file = environ.get("INTAKE_CONFIG")
    if config_file:
        values.update(_read_env_file(Path(config_file)))
    values.update(_plain_env(environ))
    fields = {f"INTAKE_{name.upper()}": name for name in Settings.model_fields}
    unknown = sorted(k for k in values if k not in fields)
    if unknown:
        raise ConfigError(f"unknown setting(s): {', '.join(unknown)}")
    kwargs = {fields[k]: v for k, v in values.items()}
    kwargs.update(overrides)
    try:
        return Settings(**kwargs)
    except ValidationError as exc:
        raise ConfigError(_explain(exc)) from None


def _read_env_file(path: Path) -> dict[str, str]:
    if not path.is_file():
        raise ConfigError(f"INTAKE_CONFIG: no such file {path}")
    values = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ConfigError(f"{path}:{number}: expected NAME=value")
        values[key.strip()] = value.strip().strip('"').strip("'")
    return values


def _explain(exc: ValidationError) -> str:
    """One line per bad setting: its name, then why."""
    lines = []
    for error in exc.errors():
        name = "INTAKE_" + "_".join(str(p) for p in error["loc"][:1]).upper()
        reason = error["msg"].removeprefix("Value error, ")  # our validators' own words
        lines.append(f"{name}: {reason} (got {error.get('input')!r})")
    return "\n".join(lines)


def known_setting_names() -> set[str]:
    """The public contract: every INTAKE_* name intake understands."""
    return {f"INTAKE_{name.upper()}" for name in Settings.model_fields} | {"INTAKE_CONFIG"}
