"""Schema Registry settings: basic auth and TLS reach a real HTTP(S) server; bad values named.

The registry stand-in is a small `http.server` on a free port that answers the one call the
decoder makes (`GET /schemas/ids/<id>`) and keeps the headers it was sent.
"""

from __future__ import annotations

import base64
import json
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from consumer.avro import SchemaRegistry
from consumer.errors import ConfigError, SchemaRegistryError
from consumer.settings import RegistrySettings, describe, load_settings
from push_tools.local.tls import broker_tls

SCHEMA = '{"type": "record", "name": "Probe", "fields": []}'


class StandIn:
    """What the stand-in registry was asked, with which headers."""

    def __init__(self) -> None:
        self.authorizations: list[str | None] = []


@contextmanager
def registry_server(tls: ssl.SSLContext | None = None) -> Iterator[tuple[str, StandIn]]:
    seen = StandIn()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.authorizations.append(self.headers.get("Authorization"))
            body = json.dumps({"schema": SCHEMA}).encode()
            self.send_response(200 if self.path.startswith("/schemas/ids/1") else 404)
            self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    scheme = "https" if tls else "http"
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def client(settings: RegistrySettings) -> SchemaRegistry:
    assert settings.url is not None
    return SchemaRegistry(settings.url, settings.client_config())


def test_basic_auth_from_settings_reaches_the_registry() -> None:
    with registry_server() as (url, seen):
        settings = RegistrySettings(url=url, username="sr-key", password="sr-secret")  # type: ignore[arg-type]
        assert client(settings).schema_text(1) == SCHEMA

    expected = "Basic " + base64.b64encode(b"sr-key:sr-secret").decode()
    assert seen.authorizations == [expected]


def test_the_registry_password_comes_from_the_environment_and_prints_masked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "settings.toml"
    path.write_text(
        '[registry]\nurl = "https://sr.example"\nusername = "sr-key"\n'
        '[accounts.az]\nprovider = "azure"\nsubscription_id = "s"\nresource_group = "r"\n'
        'app_collection = "c"\napp_name = "a"\nstatic_token = "t"\n'
    )
    monkeypatch.setenv("PUSH_REGISTRY__PASSWORD", "sr-secret-from-env")

    settings = load_settings(path)

    assert settings.registry.client_config() == {
        "basic.auth.user.info": "sr-key:sr-secret-from-env"
    }
    assert "sr-secret-from-env" not in describe(settings)


def test_a_registry_signed_by_the_configured_ca_is_trusted(tmp_path: Path) -> None:
    files = broker_tls(tmp_path / "tls")  # a CA and a certificate for 127.0.0.1
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(files.keystore_file)
    with registry_server(context) as (url, seen):
        trusting = RegistrySettings(url=url, ca_location=files.ca_file)
        assert client(trusting).schema_text(1) == SCHEMA
        with pytest.raises(SchemaRegistryError, match="CERTIFICATE_VERIFY_FAILED"):
            client(RegistrySettings(url=url)).schema_text(1)  # the system CAs do not know it
    assert len(seen.authorizations) == 1, "the untrusting client never got to send a request"


def test_a_key_that_does_not_load_is_a_config_error_naming_the_files(tmp_path: Path) -> None:
    files = broker_tls(tmp_path / "tls")
    not_a_key = tmp_path / "client.key"
    not_a_key.write_text("this is not a PEM key\n")
    settings = RegistrySettings(
        url="https://sr.example",
        certificate_location=files.keystore_file,
        key_location=not_a_key,
    )
    with pytest.raises(ConfigError, match=rf"TLS files do not load .*ssl.key.location={not_a_key}"):
        client(settings)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"url": "sr.example:8081"}, r"'sr.example:8081' must start with http://, https://"),
        ({"url": "https://a, ftp://b"}, r"'ftp://b' must start with http://"),
        ({"username": "k", "password": "s"}, r"basic auth or TLS files are set but registry.url"),
        ({"url": "https://sr", "username": "k"}, r"username and password go together"),
        ({"url": "https://sr", "password": "s"}, r"username and password go together"),
        ({"url": "https://sr", "username": "k:x", "password": "s"}, r"must not contain ':'"),
        ({"url": "https://sr", "ca_location": "/nonexistent/ca.pem"},
         r"registry.ca_location: /nonexistent/ca.pem does not exist"),
        ({"url": "https://sr", "certificate_location": "/nonexistent/c.pem"},
         r"registry.certificate_location: /nonexistent/c.pem does not exist"),
        ({"url": "https://sr", "key_location": "{file}"}, r"key_location and key_password need"),
        ({"url": "http://sr", "ca_location": "{file}"}, r"TLS files are set but .* not https"),
    ],
)  # fmt: skip
def test_bad_registry_settings_are_named(
    values: dict[str, str], message: str, tmp_path: Path
) -> None:
    existing = tmp_path / "exists.pem"
    existing.write_text("")
    values = {key: value.replace("{file}", str(existing)) for key, value in values.items()}
    with pytest.raises(ConfigError, match=message) as caught:
        load_settings(None, registry=values, accounts={"az": {
            "provider": "azure", "subscription_id": "s", "resource_group": "r",
            "app_collection": "c", "app_name": "a", "static_token": "t"}})  # fmt: skip
    assert "registry" in str(caught.value), "the message says which section"
