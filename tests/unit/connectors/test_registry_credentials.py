"""Credentials named in the registry: resolved from injected Connections or SANHEYI_CRED_*, never shown."""

from __future__ import annotations

import logging

import pytest

from connectors.credentials import Credential, CredentialResolver, env_var_name, install_log_filter, scrub
from connectors.remote import ConnectorConfigError, SourceProtocolError, SourceUnavailableError


def test_names_map_to_environment_variables():
    assert env_var_name("ga-rest") == "SANHEYI_CRED_GA_REST"
    assert env_var_name("SELF_GA.qzk") == "SANHEYI_CRED_SELF_GA_QZK"


def test_a_plain_secret_and_a_json_object_are_both_understood():
    environ = {
        "SANHEYI_CRED_GA_REST": "plain-Secret-0001",
        "SANHEYI_CRED_GA_QZK": '{"username": "hub", "password": "json-Secret-0002"}',
    }
    resolver = CredentialResolver(environ=environ)
    rest = resolver.resolve("GA_REST")
    assert (rest.token, rest.password, rest.secret) == ("plain-Secret-0001",) * 3
    qzk = resolver.resolve("ga_qzk")
    assert (qzk.username, qzk.password, qzk.token) == ("hub", "json-Secret-0002", None)
    assert "json-Secret-0002" not in repr(qzk) and str(qzk) == "Credential(ga_qzk)"
    assert scrub("login hub:json-Secret-0002 failed") == "login hub:*** failed"
    assert resolver.resolve(None) is None


def test_an_injected_connection_wins_over_the_environment():
    resolver = CredentialResolver(
        {"GA_REST": Credential("GA_REST", token="injected-Secret-3")}, environ={"SANHEYI_CRED_GA_REST": "env-Secret-4"}
    )
    assert resolver.resolve("GA_REST").token == "injected-Secret-3"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('{"password": "broken-Secret-5"', "is not valid JSON"),
        ('{"pasword": "typo-Secret-6"}', "unknown fields: pasword"),
        ("abc", "too short"),
    ],
)
def test_bad_values_are_reported_without_the_secret(raw, expected):
    with pytest.raises(ConnectorConfigError) as caught:
        CredentialResolver(environ={"SANHEYI_CRED_GA": raw}).resolve("GA")
    assert expected in caught.value.message
    assert "Secret-" not in caught.value.message


def test_a_missing_credential_names_the_variable_to_set():
    with pytest.raises(ConnectorConfigError) as caught:
        CredentialResolver(environ={}).resolve("GA_SOAP")
    assert caught.value.message == (
        "凭据 GA_SOAP 未配置 (环境变量 SANHEYI_CRED_GA_SOAP 或注入的连接) / credential GA_SOAP is not configured "
        "(set SANHEYI_CRED_GA_SOAP or inject it)"
    )


def test_an_error_that_carries_a_resolved_secret_is_scrubbed_when_raised():
    CredentialResolver(environ={"SANHEYI_CRED_GA_ECHO": "echo-Secret-0007"}).resolve("GA_ECHO")
    assert SourceProtocolError("source said: bad header Bearer echo-Secret-0007").message == (
        "source said: bad header Bearer ***"
    )
    assert "echo-Secret-0007" not in SourceUnavailableError("GET /v1/case?key=echo-Secret-0007 failed").message


def test_the_log_filter_scrubs_known_secrets(caplog):
    CredentialResolver({"GA_X": {"username": "u", "password": "filter-Pa55-never-shown"}}).resolve("GA_X")
    install_log_filter([caplog.handler])
    try:
        raise RuntimeError("driver said: password filter-Pa55-never-shown rejected")
    except RuntimeError:
        logging.getLogger("zeep.transports").exception("call failed for %s", "filter-Pa55-never-shown")
    assert "call failed for ***" in caplog.text
    assert "driver said: password *** rejected" in caplog.text
    assert "filter-Pa55-never-shown" not in caplog.text
