"""A throwaway certificate authority and broker certificate for the local SASL_SSL listener.

Made with `openssl` once per broker work directory, so clients that trust `ca.pem` keep
trusting the broker across restarts. The broker reads `broker-keystore.pem` (its key and
certificate chain, `ssl.keystore.type=PEM`); the certificate names `localhost` and
`127.0.0.1`, so clients verify the broker's name as they would in production.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from consumer.errors import LocalKafkaError

_VALID_DAYS = "30"
_EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-noenc"]
_BROKER_EXTENSIONS = """\
subjectAltName = DNS:localhost, IP:127.0.0.1
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
"""


@dataclass(frozen=True, slots=True)
class BrokerTls:
    """Where the generated files are: the CA clients trust, the broker's PEM keystore."""

    directory: Path

    @property
    def ca_file(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def keystore_file(self) -> Path:
        return self.directory / "broker-keystore.pem"


def broker_tls(directory: Path) -> BrokerTls:
    """The CA and broker certificate in `directory`, generated the first time."""
    tls = BrokerTls(directory)
    if tls.keystore_file.exists() and tls.ca_file.exists():
        return tls
    openssl = shutil.which("openssl")
    if openssl is None:
        raise LocalKafkaError("`openssl` was not found on PATH: it makes the SASL_SSL certificates")
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, broker_key = directory / "ca.key", directory / "broker.key"
    request, broker_cert = directory / "broker.csr", directory / "broker.pem"
    extensions = directory / "broker.ext"
    extensions.write_text(_BROKER_EXTENSIONS)
    _run(openssl, "req", "-x509", *_EC_KEY, "-keyout", ca_key, "-out", tls.ca_file,
         "-days", _VALID_DAYS, "-subj", "/CN=push-dispatch local Kafka CA")  # fmt: skip
    _run(openssl, "req", *_EC_KEY, "-keyout", broker_key, "-out", request,
         "-subj", "/CN=localhost")  # fmt: skip
    _run(openssl, "x509", "-req", "-in", request, "-CA", tls.ca_file, "-CAkey", ca_key,
         "-CAcreateserial", "-days", _VALID_DAYS, "-extfile", extensions,
         "-out", broker_cert)  # fmt: skip
    # key first, then the chain up to the CA: the layout Kafka's PEM keystore reads
    keystore = broker_key.read_text() + broker_cert.read_text() + tls.ca_file.read_text()
    staging = tls.keystore_file.with_suffix(".tmp")
    staging.write_text(keystore)
    staging.rename(tls.keystore_file)  # written last: its presence means "all done"
    return tls


def _run(*command: str | Path) -> None:
    result = subprocess.run(
        [str(part) for part in command], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise LocalKafkaError(
            f"openssl {command[1]} failed making the SASL_SSL certificates:\n"
            f"{(result.stdout + result.stderr)[-2000:]}"
        )
