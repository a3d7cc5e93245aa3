"""The ``rest`` interface type: the published OpenAPI (``interfaces/openapi.yaml``) read with httpx.

``GET {address}/v1/{entity}?since=&page_token=&limit=`` with ``Authorization: Bearer {token}``.
Timeouts are explicit, proxies from the environment are ignored (traffic goes only to the
registered address), redirects are not followed, and an answer larger than the policy's bound is
refused before it is parsed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import httpx

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

__all__ = ["RestConnector"]

_TRANSIENT_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


class RestConnector(PagedConnector):
    """A self-built system (or the unified platform) behind the standard's REST interface."""

    kind = "rest"

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
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(
            system_code, address.rstrip("/"), entities=entities, page_size=page_size, policy=policy, lookback=lookback
        )
        self._credential = credential
        self._transport = transport
        self._client: httpx.Client | None = None

    def _http(self) -> httpx.Client:
        if self._client is None:
            headers = {"Accept": "application/json", "User-Agent": "sanheyi-hub/1"}
            if self._credential is not None:
                if not self._credential.secret:
                    raise ConnectorConfigError(
                        f"凭据 {self._credential.name} 没有令牌 / credential {self._credential.name} holds no token"
                    )
                headers["Authorization"] = f"Bearer {self._credential.secret}"
            self._client = httpx.Client(
                base_url=self.address,
                headers=headers,
                timeout=httpx.Timeout(self.policy.read_timeout_s, connect=self.policy.connect_timeout_s),
                follow_redirects=False,
                trust_env=False,
                transport=self._transport,
            )
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def reconfigured(self, **changes: Any) -> RestConnector:
        clone = super().reconfigured(**changes)
        clone._client = None  # type: ignore[attr-defined]
        return clone  # type: ignore[return-value]

    def _fetch_page(self, entity: str, since: datetime | None, token: str | None, limit: int) -> Page:
        params: dict[str, Any] = {"limit": limit}
        if since is not None:
            params["since"] = utc_text(since)
        if token:
            params["page_token"] = token
        path = f"/v1/{entity}"
        try:
            with self._http().stream("GET", path, params=params) as response:
                status = response.status_code
                body = self._bounded_body(response, entity) if status == 200 else response.read()[:2048]
        except httpx.TimeoutException:
            raise TransientFault(
                f"超时 (超过 {self.policy.read_timeout_s:g} 秒) / timed out after {self.policy.read_timeout_s:g} s"
            ) from None
        except httpx.TransportError as exc:
            raise TransientFault(f"连接失败 / connection failed: {exc.__class__.__name__}") from None
        if status == 200:
            return self._parse(body, entity)
        if status in _TRANSIENT_STATUS:
            raise TransientFault(f"HTTP {status}")
        if status in (401, 403):
            raise ConnectorConfigError(
                f"系统 {self.system_code} 拒绝了凭据 (HTTP {status}) / {self.system_code} refused the credential "
                f"{self._credential.name if self._credential else '(none)'} (HTTP {status})"
            )
        detail = _error_detail(body)
        raise SourceProtocolError(
            f"系统 {self.system_code} 对 GET {path} 回答 HTTP {status} / {self.system_code} answered HTTP {status} "
            f"to GET {path}{detail}"
        )

    def _bounded_body(self, response: httpx.Response, entity: str) -> bytes:
        limit = self.policy.max_response_bytes
        declared = response.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise self._too_large(entity)
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > limit:
                raise self._too_large(entity)
            chunks.append(chunk)
        return b"".join(chunks)

    def _too_large(self, entity: str) -> SourceProtocolError:
        return SourceProtocolError(
            f"系统 {self.system_code} 的 {entity} 页面超过 {self.policy.max_response_bytes} 字节 / a page of "
            f"{entity} from {self.system_code} exceeds {self.policy.max_response_bytes} bytes; lower the page size"
        )

    def _parse(self, body: bytes, entity: str) -> Page:
        try:
            document = json.loads(body)
        except ValueError:
            document = None
        records = document.get("records") if isinstance(document, dict) else None
        token = document.get("next_page_token") if isinstance(document, dict) else None
        if not isinstance(records, list) or not (token is None or isinstance(token, str)):
            raise SourceProtocolError(
                f"系统 {self.system_code} 的 {entity} 页面不符合 OpenAPI (需要 records 数组和 next_page_token) / "
                f"the {entity} page of {self.system_code} does not match the OpenAPI (records array, next_page_token)"
            )
        return Page(records=records, next_token=token or None)


def _error_detail(body: bytes) -> str:
    # Only a short, structured error field: a body could echo request data.
    try:
        value = json.loads(body)
    except ValueError:
        return ""
    if isinstance(value, dict) and isinstance(value.get("error"), str):
        return f": {value['error'][:160]}"
    return ""
