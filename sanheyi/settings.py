"""Settings of one hub installation, read from ``SANHEYI_HOME/config.yaml`` and the environment.

Every problem in the configuration is collected and reported at once, so an operator fixes the
file in one go instead of one error per run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sanheyi.errors import ConfigError

DEFAULT_CONFIG: dict[str, Any] = {
    "region": "320481",
    "warehouse_url": None,  # None: SQLite file under the home
    "unified": {"type": "file", "address": None, "credential": None},
    "supervision": {"warn_days": 1, "complaint_limit_workdays": 10},
    "held_step_days": 7,
    "cycle_lock_wait_seconds": 600,  # how long a stage waits for a cycle that is running
    "exchange": {
        "transport": "outbox",
        "signature_algorithm": "Ed25519",
        "receipt_timeout_hours": 24,
        "sftp": {
            "host": None,
            "port": 22,
            "username": None,
            "credential": None,
            "remote_dir": "/incoming",
            "known_hosts": None,
        },
    },
}


@dataclass(frozen=True)
class SupervisionConfig:
    warn_days: int = 1
    complaint_limit_workdays: int = 10


@dataclass(frozen=True)
class ExchangeConfig:
    transport: str = "outbox"
    signature_algorithm: str = "Ed25519"
    receipt_timeout_hours: int = 24
    sftp: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Settings:
    home: Path
    warehouse_url: str
    unified: dict[str, Any]
    supervision: SupervisionConfig
    exchange: ExchangeConfig
    held_step_days: int = 7
    cycle_lock_wait_seconds: int = 600

    @property
    def config_file(self) -> Path:
        return self.home / "config.yaml"

    @property
    def warehouse_record(self) -> Path:
        """The warehouse ``sanheyi init`` set this home up with (no password)."""
        return self.home / "warehouse.txt"

    @property
    def keys_dir(self) -> Path:
        return self.home / "keys"

    @property
    def inbox(self) -> Path:
        return self.home / "inbox"

    @property
    def archive(self) -> Path:
        return self.home / "archive"

    @property
    def rejected(self) -> Path:
        return self.home / "rejected"

    @property
    def outbox(self) -> Path:
        return self.home / "outbox"

    @property
    def reports(self) -> Path:
        return self.home / "reports"

    @property
    def calendar_override(self) -> Path:
        return self.home / "calendar" / "overrides.yaml"

    @property
    def airflow_home(self) -> Path:
        return self.home / "airflow"

    @property
    def logs(self) -> Path:
        return self.home / "logs"


def home_from_env() -> Path:
    return Path(os.environ.get("SANHEYI_HOME") or "var").resolve()


def default_warehouse_url(home: Path) -> str:
    return f"sqlite:///{home / 'warehouse.sqlite'}"


def load_settings(home: Path | None = None) -> Settings:
    """Settings for ``home`` (default: ``SANHEYI_HOME`` or ``./var``); missing file = defaults."""
    home = (home or home_from_env()).resolve()
    raw: dict[str, Any] = {}
    config_file = home / "config.yaml"
    if config_file.exists():
        try:
            loaded = yaml.safe_load(config_file.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"配置文件无法解析 / config file is not valid YAML: {config_file}: {exc}") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"配置文件必须是映射 / config file must be a mapping: {config_file}")
        raw = loaded
    return _settings_from(home, raw)


def _merged(defaults: dict[str, Any], given: dict[str, Any], path: str, problems: list[str]) -> dict[str, Any]:
    result = dict(defaults)
    for key, value in given.items():
        if key not in defaults:
            problems.append(f"{path}{key}: unknown setting")
        elif isinstance(defaults[key], dict):
            if not isinstance(value, dict):
                problems.append(f"{path}{key}: must be a mapping")
            else:
                result[key] = _merged(defaults[key], value, f"{path}{key}.", problems)
        else:
            result[key] = value
    return result


def _settings_from(home: Path, raw: dict[str, Any]) -> Settings:
    problems: list[str] = []
    merged = _merged(DEFAULT_CONFIG, raw, "", problems)
    supervision = merged["supervision"]
    for key in ("warn_days", "complaint_limit_workdays"):
        if not isinstance(supervision[key], int) or supervision[key] < 0:
            problems.append(f"supervision.{key}: must be a whole number >= 0")
    if not isinstance(merged["held_step_days"], int) or merged["held_step_days"] < 1:
        problems.append("held_step_days: must be a whole number >= 1")
    if not isinstance(merged["cycle_lock_wait_seconds"], int) or merged["cycle_lock_wait_seconds"] < 0:
        problems.append("cycle_lock_wait_seconds: must be a whole number >= 0")
    exchange = merged["exchange"]
    if exchange["transport"] not in ("outbox", "sftp"):
        problems.append("exchange.transport: must be 'outbox' or 'sftp'")
    if exchange["signature_algorithm"] not in ("Ed25519", "SM2-SM3"):
        problems.append("exchange.signature_algorithm: must be 'Ed25519' or 'SM2-SM3'")
    if exchange["transport"] == "sftp" and not (exchange["sftp"]["host"] and exchange["sftp"]["username"]):
        problems.append("exchange.sftp: host and username are required when transport is sftp")
    if merged["unified"]["type"] not in ("file", "rest", "soap", "sql"):
        problems.append("unified.type: must be file, rest, soap or sql")
    if problems:
        raise ConfigError("配置有误 / invalid configuration: " + "; ".join(problems))
    url = os.environ.get("SANHEYI_WAREHOUSE_URL") or merged["warehouse_url"] or default_warehouse_url(home)
    return Settings(
        home=home,
        warehouse_url=url,
        unified=merged["unified"],
        supervision=SupervisionConfig(**supervision),
        exchange=ExchangeConfig(**exchange),
        held_step_days=merged["held_step_days"],
        cycle_lock_wait_seconds=merged["cycle_lock_wait_seconds"],
    )


def write_default_config(home: Path) -> Path:
    """Write the default configuration unless one exists (``sanheyi init`` is safe to run again)."""
    config_file = home / "config.yaml"
    if not config_file.exists():
        text = yaml.safe_dump(DEFAULT_CONFIG, allow_unicode=True, sort_keys=False)
        config_file.write_text("# Liyang 三合一 data hub configuration (see README.md)\n" + text, encoding="utf-8")
    return config_file
