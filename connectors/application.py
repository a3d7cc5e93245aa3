"""Applications of self-built systems (interface standard §6): parsing and validation.

An application is a YAML file with exactly the keys of §6. Validation collects *every* problem
and raises them together, so a department fixes its file in one round trip.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qsl, unquote_plus, urlsplit

import yaml

from connectors.remote import ConnectorError

__all__ = [
    "APPLICATION_KEYS",
    "INTERFACE_TYPES",
    "JUSTIFICATIONS",
    "Application",
    "ApplicationError",
    "Catalogue",
    "Contact",
    "InterfaceSpec",
    "load_application",
    "looks_like_secret",
    "parse_application",
    "validate_application",
]

APPLICATION_KEYS = (
    "system_code",
    "system_name",
    "dept_code",
    "justification",
    "justification_note",
    "power_codes",
    "interface",
    "contact",
)
INTERFACE_KEYS = ("type", "address", "credential")
CONTACT_KEYS = ("name", "phone")
JUSTIFICATIONS = {
    "CLASSIFIED": "涉密",
    "FUNDS": "涉金 (资金/基金)",
    "EXISTING_INVESTMENT": "已有较大信息化投入且功能完备",
}
INTERFACE_TYPES = ("rest", "soap", "sql", "file")
RESERVED_CODES = frozenset({"UNIFIED"})

SYSTEM_CODE_RE = re.compile(r"^[A-Z][A-Z0-9_]{2,31}$")
POWER_CODE_RE = re.compile(r"^(XK|SP|CF|QZ|ZS|QR|CJ|JC|GF|ZY|JL|QT)320481\d{10}$")
CREDENTIAL_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{1,63}$")
PHONE_RE = re.compile(r"^\+?[0-9][0-9 ()-]{4,30}$")
_SECRET_QUERY_KEYS = re.compile(
    r"^(password|passwd|pwd|pass|secret|client_secret|token|access_token|api[_-]?key|apikey|"
    r"key|sig|signature|auth|authorization|credential|credentials)$",
    re.IGNORECASE,
)
_SECRET_ASSIGNMENT = re.compile(r"(?i)\b(password|passwd|pwd|secret|token|api[_-]?key)\s*[=:]")
_TOKEN_PREFIXES = ("eyJ", "sk-", "sk_", "ghp_", "gho_", "github_pat_", "AKIA", "xox")


class ApplicationError(ConnectorError):
    """An application with one or more problems; ``errors`` lists every one."""

    def __init__(self, errors: Iterable[str]) -> None:
        self.errors = list(errors)
        lines = "\n".join(f"  - {e}" for e in self.errors)
        super().__init__(
            f"申请有 {len(self.errors)} 处错误 / the application has {len(self.errors)} error(s):\n{lines}"
        )


@dataclass(frozen=True)
class Catalogue:
    """The parts of the 行政权力目录 an application is checked against."""

    departments: frozenset[str]
    power_items: Mapping[str, str]  # power_code -> dept_code

    @classmethod
    def from_records(
        cls, departments: Iterable[Mapping[str, Any]], power_items: Iterable[Mapping[str, Any]]
    ) -> Catalogue:
        """From §3.1 / §3.2 records (dicts or rows with ``dept_code`` / ``power_code``)."""
        return cls(
            departments=frozenset(str(d["dept_code"]) for d in departments),
            power_items=MappingProxyType({str(p["power_code"]): str(p["dept_code"]) for p in power_items}),
        )

    def items_of(self, dept_code: str) -> list[str]:
        return sorted(code for code, dept in self.power_items.items() if dept == dept_code)


@dataclass(frozen=True)
class InterfaceSpec:
    type: str
    address: str
    credential: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "address": self.address, "credential": self.credential}


@dataclass(frozen=True)
class Contact:
    name: str
    phone: str

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "phone": self.phone}


@dataclass(frozen=True)
class Application:
    """A validated application. ``interface.address`` is filled in (file default applied)."""

    system_code: str
    system_name: str
    dept_code: str
    justification: str
    justification_note: str | None
    power_codes: tuple[str, ...]
    interface: InterfaceSpec
    contact: Contact = field(compare=True)

    def to_dict(self) -> dict[str, Any]:
        return {
            "system_code": self.system_code,
            "system_name": self.system_name,
            "dept_code": self.dept_code,
            "justification": self.justification,
            "justification_note": self.justification_note,
            "power_codes": list(self.power_codes),
            "interface": self.interface.to_dict(),
            "contact": self.contact.to_dict(),
        }


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (PyYAML silently keeps the last one)."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} / 键 {key!r} 重复", key_node.start_mark
            )
        seen.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_application(path: Path, catalogue: Catalogue, *, existing_codes: Collection[str] = ()) -> Application:
    """Read and validate the application file at ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ApplicationError(
            [f"无法读取申请文件 / cannot read the application file {path.name}: {exc.__class__.__name__}"]
        ) from None
    return parse_application(text, catalogue, existing_codes=existing_codes)


def parse_application(
    text: str | Mapping[str, Any], catalogue: Catalogue, *, existing_codes: Collection[str] = ()
) -> Application:
    """Parse YAML text (or an already loaded mapping) and validate it; raise with all errors."""
    if isinstance(text, str):
        try:
            data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 1})" if mark is not None else ""
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise ApplicationError([f"YAML 格式错误 / not valid YAML{where}: {problem}"]) from None
    else:
        data = text
    errors = validate_application(data, catalogue, existing_codes=existing_codes)
    if errors:
        raise ApplicationError(errors)
    interface = data["interface"]
    code = data["system_code"]
    address = interface.get("address")
    if interface["type"] == "file" and _blank(address):
        address = f"inbox/{code}/"
    return Application(
        system_code=code,
        system_name=data["system_name"].strip(),
        dept_code=data["dept_code"],
        justification=data["justification"],
        justification_note=None if _blank(data.get("justification_note")) else str(data["justification_note"]).strip(),
        power_codes=tuple(data["power_codes"]),
        interface=InterfaceSpec(
            type=interface["type"], address=str(address).strip(), credential=interface.get("credential")
        ),
        contact=Contact(name=data["contact"]["name"].strip(), phone=data["contact"]["phone"].strip()),
    )


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _exact_keys(where: str, value: Mapping[str, Any], keys: tuple[str, ...], errors: list[str]) -> None:
    for key in keys:
        if key not in value:
            errors.append(f"{where}{key}: 缺少此项 / missing")
    for key in value:
        if key not in keys:
            errors.append(f"{where}{key}: 未知字段 (标准第6条不允许) / unknown key (not in §6)")


def validate_application(data: object, catalogue: Catalogue, *, existing_codes: Collection[str] = ()) -> list[str]:
    """Every problem of ``data`` (a loaded application), as ``field: 中文 / English`` lines."""
    if not isinstance(data, Mapping):
        return ["申请必须是一个 YAML 映射 / the application must be a YAML mapping of the §6 keys"]
    errors: list[str] = []
    _exact_keys("", data, APPLICATION_KEYS, errors)

    code = data.get("system_code")
    if "system_code" in data:
        if not isinstance(code, str) or not SYSTEM_CODE_RE.fullmatch(code):
            errors.append(
                "system_code: 须为大写字母开头的 3-32 位大写字母/数字/下划线 / must match ^[A-Z][A-Z0-9_]{2,31}$"
            )
        elif code in RESERVED_CODES:
            errors.append("system_code: UNIFIED 是统建平台的保留代码 / UNIFIED is reserved for the unified platform")
        elif code in existing_codes:
            errors.append(f"system_code: {code} 已登记, 代码不可重复 / {code} is already registered; codes are unique")

    if "system_name" in data and (not isinstance(data["system_name"], str) or _blank(data["system_name"])):
        errors.append("system_name: 不能为空 / must be a non-blank string")
    note = data.get("justification_note")
    if note is not None and not isinstance(note, str):
        errors.append("justification_note: 须为文字 / must be text or null")

    dept = data.get("dept_code")
    dept_ok = False
    if "dept_code" in data:
        if not isinstance(dept, str) or not _valid_uscc(dept):
            errors.append(
                "dept_code: 须为 18 位统一社会信用代码且校验位正确 / "
                "must be an 18-character USCC with a valid check character"
            )
        elif catalogue.departments and dept not in catalogue.departments:
            errors.append(f"dept_code: {dept} 不在部门目录中 / is not a department of the catalogue")
        else:
            dept_ok = True

    if "justification" in data and data["justification"] not in JUSTIFICATIONS:
        errors.append(
            "justification: 须为 CLASSIFIED (涉密), FUNDS (涉金) 或 EXISTING_INVESTMENT (已有较大信息化投入) / "
            "must be one of CLASSIFIED, FUNDS, EXISTING_INVESTMENT"
        )

    if "power_codes" in data:
        errors.extend(_check_power_codes(data["power_codes"], dept if dept_ok else None, catalogue))

    if "interface" in data:
        errors.extend(_check_interface(data["interface"], code if isinstance(code, str) else None))

    if "contact" in data:
        contact = data["contact"]
        if not isinstance(contact, Mapping):
            errors.append("contact: 须为包含 name 和 phone 的映射 / must be a mapping with name and phone")
        else:
            _exact_keys("contact.", contact, CONTACT_KEYS, errors)
            if "name" in contact and (not isinstance(contact["name"], str) or _blank(contact["name"])):
                errors.append("contact.name: 不能为空 / must be a non-blank string")
            phone = contact.get("phone")
            if "phone" in contact:
                if not isinstance(phone, str):
                    errors.append("contact.phone: 须为文字, 请加引号 / must be a string (quote it in YAML)")
                elif not PHONE_RE.fullmatch(phone.strip()):
                    errors.append("contact.phone: 电话号码格式不正确 / is not a phone number")
    return errors


def _valid_uscc(value: str) -> bool:
    from stdnum.cn import uscc

    return len(value) == 18 and bool(uscc.is_valid(value))


def _check_power_codes(value: object, dept: str | None, catalogue: Catalogue) -> list[str]:
    if not isinstance(value, list) or not value:
        return ["power_codes: 须为非空列表 / must be a non-empty list of power codes"]
    errors: list[str] = []
    for code, count in Counter(map(str, value)).items():
        if count > 1:
            errors.append(f"power_codes: {code} 重复 / is listed {count} times")
    for i, item in enumerate(value):
        where = f"power_codes[{i}]"
        if not isinstance(item, str) or not POWER_CODE_RE.fullmatch(item):
            errors.append(f"{where}: {item!s} 不是溧阳权力编码 / is not a Liyang power code")
            continue
        owner = catalogue.power_items.get(item)
        if owner is None:
            errors.append(f"{where}: {item} 不在权力目录中 / is not in the catalogue")
        elif dept is not None and owner != dept:
            errors.append(f"{where}: {item} 属于部门 {owner}, 不是 {dept} / belongs to department {owner}, not {dept}")
    return errors


def looks_like_secret(value: str) -> bool:
    """A heuristic: does ``value`` look like a password or token rather than a name?"""
    if value.startswith(_TOKEN_PREFIXES):
        return True
    has_lower = any(c.islower() for c in value)
    has_upper = any(c.isupper() for c in value)
    has_digit = any(c.isdigit() for c in value)
    # Names are UPPER_SNAKE or lower-kebab; mixed-case words with digits are how passwords look.
    if has_lower and has_upper and has_digit:
        return True
    # A long unbroken run of letters and digits (hex keys, base64 tokens) is not a name.
    if any(len(run) >= 16 and any(c.isdigit() for c in run) for run in re.split(r"[_.-]", value)):
        return True
    return len(value) >= 20 and has_digit and _entropy(value) >= 3.8


def _entropy(value: str) -> float:
    counts = Counter(value)
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())


def _check_interface(value: object, code: str | None) -> list[str]:
    if not isinstance(value, Mapping):
        return [
            "interface: 须为包含 type, address, credential 的映射 / must be a mapping with type, address, credential"
        ]
    errors: list[str] = []
    _exact_keys("interface.", value, INTERFACE_KEYS, errors)
    kind = value.get("type")
    if "type" in value and kind not in INTERFACE_TYPES:
        errors.append("interface.type: 须为 rest, soap, sql 或 file / must be rest, soap, sql or file")

    credential = value.get("credential")
    if credential is not None:
        if not isinstance(credential, str) or not CREDENTIAL_NAME_RE.fullmatch(credential):
            errors.append(
                "interface.credential: 须为已保存凭据的名称 (字母开头, 字母/数字/_.-), 不是密钥本身 / "
                "must be the NAME of a stored credential (letters, digits, _ . -), never the secret"
            )
        elif looks_like_secret(credential):
            errors.append(
                "interface.credential: 看起来像密码或令牌; 请填写凭据名称 / looks like a password or token; "
                "give the name of a stored credential instead"
            )

    address = value.get("address")
    if "address" not in value:
        return errors
    if _blank(address):
        if kind in ("rest", "soap", "sql"):
            errors.append(f"interface.address: {kind} 接口须填写地址 / a {kind} interface needs an address")
        return errors
    if not isinstance(address, str):
        errors.append("interface.address: 须为文字 / must be text")
        return errors
    address = address.strip()
    # Also the decoded form: an ODBC string hides "PWD=" as "PWD%3D" inside a URL.
    if _SECRET_ASSIGNMENT.search(address) or _SECRET_ASSIGNMENT.search(unquote_plus(address)):
        errors.append(_ADDRESS_NOT_CLEAN)
        return errors
    if kind in ("rest", "soap"):
        errors.extend(_check_url(address))
    elif kind == "sql":
        errors.extend(_check_dsn(address))
    elif kind == "file":
        errors.extend(_check_directory(address, code))
    return errors


_ADDRESS_NOT_CLEAN = (
    "interface.address: 地址中不得含密码或令牌, 请放入凭据 / the address must not contain a password "
    "or token; store it as a credential and give its name"
)


def _check_url(address: str) -> list[str]:
    try:
        parts = urlsplit(address)
        host = parts.hostname
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return ["interface.address: 不是有效的网址 / is not a valid URL"]
    if parts.scheme not in ("http", "https") or not host:
        return ["interface.address: 须为 http(s) 网址 / must be an http(s) URL with a host"]
    if parts.password is not None or parts.username is not None:
        return [_ADDRESS_NOT_CLEAN]
    if any(_SECRET_QUERY_KEYS.match(k) for k, _ in parse_qsl(parts.query, keep_blank_values=True)):
        return [_ADDRESS_NOT_CLEAN]
    return []


def _check_dsn(address: str) -> list[str]:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(address)
    except (ArgumentError, ValueError):
        return ["interface.address: 不是有效的 SQLAlchemy 数据库地址 / is not a valid SQLAlchemy database URL"]
    if url.password is not None:
        return [_ADDRESS_NOT_CLEAN]
    if any(_SECRET_QUERY_KEYS.match(k) for k in url.query):
        return [_ADDRESS_NOT_CLEAN]
    return []


def _check_directory(address: str, code: str | None) -> list[str]:
    if "://" in address:
        return ["interface.address: file 接口须为目录 / a file interface's address is a directory"]
    path = PureWindowsPath(address) if "\\" in address else PurePosixPath(address)
    if ".." in path.parts:
        return ["interface.address: 目录不得含 .. / the directory must not contain '..'"]
    if code is not None and path.name != code:
        # archive/ and rejected/ are kept per system code (§10.1), so the drop folder is named by it.
        return [f"interface.address: 目录名须为系统代码 {code} (如 inbox/{code}/) / the folder must be named {code}"]
    return []
