"""The ``soap`` interface type: the published WSDL (``interfaces/sanheyi.wsdl``) called with zeep.

Hardening, because the other side is a system we do not control:

- the WSDL is the project's own published copy, loaded from disk; the remote's WSDL is never
  fetched for the client, and the transport refuses to load any other document (no imports);
- ``zeep.Settings(strict=True, xml_huge_tree=False, forbid_dtd=True, forbid_entities=True,
  forbid_external=True)``: a response with a DTD, an entity or an external reference is refused
  before anything is resolved (billion laughs, XXE);
- explicit connect/read timeouts, no proxies from the environment, no redirects, and a bound
  on the size of a response, checked while it streams in.

The conformance check also fetches the remote's ``?wsdl`` (as bytes, with the same bounds),
parses it with a parser that resolves nothing, and compares it with the published copy.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import requests
import zeep
import zeep.exceptions
from lxml import etree
from zeep.transports import Transport

from connectors.credentials import Credential
from connectors.remote import (
    DEFAULT_LOOKBACK,
    DEFAULT_PAGE_SIZE,
    ConnectorConfigError,
    Page,
    PagedConnector,
    RetryPolicy,
    SourceProtocolError,
    TransientFault,
    utc_text,
)

__all__ = ["PUBLISHED_WSDL", "SoapConnector", "compare_wsdl", "hardened_settings"]

log = logging.getLogger("connectors.soap")

INTERFACES_DIR = Path(__file__).resolve().parent.parent / "schemas" / "interface_standard" / "v1" / "interfaces"
PUBLISHED_WSDL = INTERFACES_DIR / "sanheyi.wsdl"
NAMESPACE = "urn:liyang:sanheyi:interface:v1"
BINDING = f"{{{NAMESPACE}}}SanheyiRecordService"
_WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"
_XSD_NS = "http://www.w3.org/2001/XMLSchema"
# Attributes whose value is a QName: compared by namespace URI, not by the prefix used.
_QNAME_ATTRIBUTES = frozenset({"type", "element", "message", "binding", "base", "ref", "itemType"})
_IGNORED = frozenset({f"{{{_WSDL_NS}}}documentation", f"{{{_XSD_NS}}}annotation"})


def hardened_settings() -> zeep.Settings:
    return zeep.Settings(
        strict=True,
        xml_huge_tree=False,
        forbid_dtd=True,
        forbid_entities=True,
        forbid_external=True,
    )


class _HardenedTransport(Transport):
    """A zeep transport that only reads the published WSDL from disk and bounds every answer."""

    def __init__(self, policy: RetryPolicy, session: requests.Session) -> None:
        super().__init__(timeout=policy.connect_timeout_s, operation_timeout=None, session=session)
        self.policy = policy

    def load(self, url: str) -> bytes:
        parsed = urlparse(url)
        path = Path(parsed.path if parsed.scheme == "file" else url)
        if parsed.scheme not in ("", "file") or path.resolve() != PUBLISHED_WSDL:
            raise SourceProtocolError(
                f"拒绝加载外部文档 / refusing to load the external document {url} (only the published WSDL is used)"
            )
        return PUBLISHED_WSDL.read_bytes()

    def get(self, address: str, params: Any, headers: Any) -> requests.Response:
        raise SourceProtocolError("HTTP GET bindings are not part of the published interface")

    def post(self, address: str, message: bytes, headers: dict[str, str]) -> requests.Response:
        response = self.session.post(
            address,
            data=message,
            headers=headers,
            timeout=(self.policy.connect_timeout_s, self.policy.read_timeout_s),
            stream=True,
            allow_redirects=False,
        )
        with response:
            response._content = read_bounded(response, self.policy.max_response_bytes)  # noqa: SLF001
        return response


def read_bounded(response: requests.Response, limit: int) -> bytes:
    """The body of a streamed response, refusing it once it exceeds ``limit`` bytes."""
    declared = response.headers.get("Content-Length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise SourceProtocolError(f"答复超过 {limit} 字节 / the answer exceeds {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(chunk_size=65536):
        size += len(chunk)
        if size > limit:
            raise SourceProtocolError(f"答复超过 {limit} 字节 / the answer exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


class SoapConnector(PagedConnector):
    """A self-built system behind the standard's SOAP interface."""

    kind = "soap"

    def __init__(
        self,
        system_code: str,
        address: str,
        credential: Credential | None,
        *,
        entities: Sequence[str],
        page_size: int = DEFAULT_PAGE_SIZE,
        policy: RetryPolicy | None = None,
        lookback: timedelta = DEFAULT_LOOKBACK,
    ) -> None:
        super().__init__(system_code, address, entities=entities, page_size=page_size, policy=policy, lookback=lookback)
        self._credential = credential
        self._service: Any = None
        self._session: requests.Session | None = None

    def _new_session(self) -> requests.Session:
        session = requests.Session()
        session.trust_env = False  # no proxies or .netrc from the environment
        session.max_redirects = 0
        credential = self._credential
        if credential is not None:
            if credential.username and credential.password:
                session.auth = (credential.username, credential.password)
            elif credential.secret:
                session.headers["Authorization"] = f"Bearer {credential.secret}"
            else:
                raise ConnectorConfigError(
                    f"凭据 {credential.name} 没有密钥 / credential {credential.name} holds no secret"
                )
        return session

    def _client_service(self) -> Any:
        if self._service is None:
            self._session = self._new_session()
            transport = _HardenedTransport(self.policy, self._session)
            try:
                client = zeep.Client(str(PUBLISHED_WSDL), transport=transport, settings=hardened_settings())
                self._service = client.create_service(BINDING, self.address)
            except (zeep.exceptions.Error, SourceProtocolError, ValueError) as exc:
                raise ConnectorConfigError(
                    f"已发布的 WSDL 无法加载 / the published WSDL cannot be loaded: {exc.__class__.__name__}"
                ) from None
        return self._service

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
        self._service = None
        self._session = None

    def reconfigured(self, **changes: Any) -> SoapConnector:
        clone = super().reconfigured(**changes)
        clone._service = None  # type: ignore[attr-defined]
        clone._session = None  # type: ignore[attr-defined]
        return clone  # type: ignore[return-value]

    def _fetch_page(self, entity: str, since: datetime | None, token: str | None, limit: int) -> Page:
        service = self._client_service()
        try:
            result = service.GetRecords(
                entity=entity,
                since=utc_text(since) if since is not None else None,
                page_token=token,
                limit=limit,
            )
        except zeep.exceptions.Fault as fault:
            code = str(fault.code or "")
            message = (fault.message or "")[:200]
            if code.split(":")[-1] in ("Server", "Receiver"):
                raise TransientFault(f"SOAP Fault {code}: {message}") from None
            raise SourceProtocolError(
                f"系统 {self.system_code} 拒绝请求 (SOAP Fault {code}) / {self.system_code} refused the request "
                f"(SOAP Fault {code}): {message}"
            ) from None
        except (zeep.exceptions.DTDForbidden, zeep.exceptions.EntitiesForbidden) as exc:
            raise SourceProtocolError(
                f"系统 {self.system_code} 的答复含 DTD 或实体声明, 已拒绝 / the answer of {self.system_code} "
                f"declares a DTD or entities ({exc.__class__.__name__}); refused without resolving anything"
            ) from None
        except zeep.exceptions.ExternalReferenceForbidden:
            raise SourceProtocolError(
                f"系统 {self.system_code} 的答复引用外部文档, 已拒绝 / the answer of {self.system_code} refers to "
                "an external document; refused"
            ) from None
        except zeep.exceptions.XMLSyntaxError:
            raise SourceProtocolError(
                f"系统 {self.system_code} 的答复不是有效的 XML / the answer of {self.system_code} is not valid XML"
            ) from None
        except zeep.exceptions.TransportError as exc:
            status = getattr(exc, "status_code", 0) or 0
            if status in (401, 403):
                raise ConnectorConfigError(
                    f"系统 {self.system_code} 拒绝了凭据 (HTTP {status}) / {self.system_code} refused the "
                    f"credential {self._credential.name if self._credential else '(none)'} (HTTP {status})"
                ) from None
            if status == 200:
                # zeep reports XML that its hardened parser refused (e.g. entity amplification) this way.
                raise SourceProtocolError(
                    f"系统 {self.system_code} 的答复不是有效或安全的 XML, 已拒绝 / "
                    f"the answer of {self.system_code} "
                    "is not valid (or not safe) XML; refused"
                ) from None
            if status >= 500 or status in (408, 429):
                raise TransientFault(f"HTTP {status}") from None
            raise SourceProtocolError(
                f"系统 {self.system_code} 回答 HTTP {status} / {self.system_code} answered HTTP {status}"
            ) from None
        except requests.Timeout:
            raise TransientFault(
                f"超时 (超过 {self.policy.read_timeout_s:g} 秒) / timed out after {self.policy.read_timeout_s:g} s"
            ) from None
        except requests.ConnectionError as exc:
            raise TransientFault(f"连接失败 / connection failed: {exc.__class__.__name__}") from None
        except zeep.exceptions.Error as exc:
            raise SourceProtocolError(
                f"系统 {self.system_code} 的答复不符合已发布的 WSDL / the answer of {self.system_code} does not "
                f"match the published WSDL: {exc.__class__.__name__}"
            ) from None
        records = []
        if result is not None and result.records is not None:
            records = [r for r in (result.records.string or []) if r is not None]
        return Page(records=records, next_token=(result.next_page_token or None) if result is not None else None)

    # -- conformance --------------------------------------------------------------------------
    def remote_wsdl_differences(self) -> list[str]:
        """Differences between the remote's ``?wsdl`` and the published WSDL (empty: they match)."""
        session = self._new_session()
        try:
            response = session.get(
                self.address + "?wsdl",
                timeout=(self.policy.connect_timeout_s, self.policy.read_timeout_s),
                stream=True,
                allow_redirects=False,
            )
            with response:
                if response.status_code != 200:
                    return [f"GET ?wsdl: HTTP {response.status_code}"]
                content = read_bounded(response, min(self.policy.max_response_bytes, 4 * 1024 * 1024))
        except requests.RequestException as exc:
            return [f"GET ?wsdl failed: {exc.__class__.__name__}"]
        finally:
            session.close()
        return compare_wsdl(PUBLISHED_WSDL.read_bytes(), content)


def _safe_parse(content: bytes) -> etree._Element:
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    root = etree.fromstring(content, parser=parser)  # noqa: S320 - the parser resolves nothing
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise ValueError("the document declares a DTD")
    return root


def _canonical(element: etree._Element) -> tuple[Any, ...]:
    attributes = []
    for name, value in sorted(element.attrib.items()):
        if etree.QName(name).localname in _QNAME_ATTRIBUTES and ":" in value:
            prefix, local = value.split(":", 1)
            value = f"{{{element.nsmap.get(prefix, prefix)}}}{local}"
        attributes.append((name, value))
    children = tuple(
        _canonical(child)
        for child in element
        if isinstance(child.tag, str) and child.tag not in _IGNORED and etree.QName(child).localname != "address"
    )
    return (element.tag, tuple(attributes), children)


def _describe(node: tuple[Any, ...]) -> str:
    tag, attributes, _ = node
    name = dict(attributes).get("name")
    return f"{etree.QName(tag).localname}" + (f" {name}" if name else "")


def _identities(children: tuple[tuple[Any, ...], ...]) -> list[tuple[Any, ...]]:
    """Children are matched by tag and name (unnamed ones by their position among their tag)."""
    seen: dict[Any, int] = {}
    out = []
    for tag, attributes, _ in children:
        name = dict(attributes).get("name")
        if name is None:
            seen[tag] = seen.get(tag, 0) + 1
            out.append((tag, f"#{seen[tag]}"))
        else:
            out.append((tag, name))
    return out


def _diff(a: tuple[Any, ...], b: tuple[Any, ...], path: str, out: list[str]) -> None:
    if len(out) >= 20:
        return
    here = f"{path}/{_describe(a)}"
    if a[1] != b[1]:
        out.append(f"{here}: 属性不同 / attributes differ: published {dict(a[1])}, remote {dict(b[1])}")
    ids_a, ids_b = _identities(a[2]), _identities(b[2])
    by_a, by_b = dict(zip(ids_a, a[2], strict=True)), dict(zip(ids_b, b[2], strict=True))
    for key in ids_a:
        if key not in by_b:
            out.append(f"{here}: 对方缺少 / remote lacks {_describe(by_a[key])}")
    for key in ids_b:
        if key not in by_a:
            out.append(f"{here}: 对方多出 / remote has extra {_describe(by_b[key])}")
    common = [k for k in ids_a if k in by_b]
    if common != [k for k in ids_b if k in by_a]:
        out.append(f"{here}: 顺序不同 / the order of its children differs")
    for key in common:
        _diff(by_a[key], by_b[key], here, out)


def compare_wsdl(published: bytes, remote: bytes) -> list[str]:
    """Structural differences (documentation, comments and the service address aside)."""
    try:
        remote_root = _safe_parse(remote)
    except (etree.XMLSyntaxError, ValueError) as exc:
        return [f"对方的 WSDL 无法安全解析, 已拒绝 / the remote WSDL was refused: {exc}"]
    problems: list[str] = []
    for element in remote_root.iter(f"{{{_XSD_NS}}}import", f"{{{_XSD_NS}}}include", f"{{{_WSDL_NS}}}import"):
        location = element.get("schemaLocation") or element.get("location")
        if location:
            problems.append(
                f"对方的 WSDL 引用外部文档 {location} (未加载) / the remote WSDL imports {location} (not followed)"
            )
    published_root = _canonical(_safe_parse(published))
    remote_tree = _canonical(remote_root)
    if published_root[0] != remote_tree[0]:
        return [*problems, "对方的文档不是 WSDL / the remote document is not a WSDL definitions element"]
    _diff(published_root, remote_tree, "", problems)
    return problems
