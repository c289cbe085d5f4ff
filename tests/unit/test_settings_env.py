"""The environment forms a shell can export: dotted librdkafka keys and hyphenated accounts.

Most cases run in a real `bash`, the way an operator or a container entrypoint sets them.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from consumer.errors import ConfigError
from consumer.settings import load_settings

FILE = """
[kafka.client]
"security.protocol" = "SASL_SSL"
"sasl.mechanism" = "SCRAM-SHA-512"
"sasl.username" = "push"
"sasl.password" = "from-file"
[kafka.producer]
"linger.ms" = 10
[accounts.rs-main]
provider = "responsys"
login_url = "http://127.0.0.1:1"
user_name = "api-user"
password = "from-file"
"""

SHOW = """
import json, sys
from pathlib import Path
from consumer.settings import load_settings
s = load_settings(Path(sys.argv[1]))
print(json.dumps({
    "producer": s.kafka.producer_config(),
    "consumer": s.kafka.consumer_config("g"),
    "accounts": {n: a.model_dump(mode="python") for n, a in s.accounts.items()},
    "password": s.accounts["rs-main"].password.get_secret_value(),
}, default=str))
"""


def in_bash(exports: dict[str, str], command: str) -> subprocess.CompletedProcess[str]:
    """Run `command` in bash after `export NAME=value` lines, without the caller's PUSH_*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUSH_")}
    script = "".join(f"export {name}={shlex.quote(value)}\n" for name, value in exports.items())
    return subprocess.run(
        ["bash", "-c", script + command],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def shown(tmp_path: Path, exports: dict[str, str]) -> dict[str, object]:
    path = tmp_path / "settings.toml"
    path.write_text(FILE)
    code = tmp_path / "show.py"
    code.write_text(SHOW)
    done = in_bash(exports, f"{shlex.quote(sys.executable)} {code} {path}")
    assert done.returncode == 0, done.stderr
    values: dict[str, object] = json.loads(done.stdout)
    return values


def test_a_dotted_librdkafka_key_from_bash_joins_the_files_table(tmp_path: Path) -> None:
    values = shown(tmp_path, {"PUSH_KAFKA__CLIENT__SASL_PASSWORD": "kafka-secret"})
    producer = values["producer"]
    assert isinstance(producer, dict)
    assert producer["sasl.password"] == "kafka-secret"
    assert producer["security.protocol"] == "SASL_SSL", "the file's table is kept"
    assert "sasl_password" not in producer


def test_consumer_and_producer_keys_from_bash_reach_their_clients(tmp_path: Path) -> None:
    values = shown(
        tmp_path,
        {
            "PUSH_KAFKA__CONSUMER__FETCH_MIN_BYTES": "1024",
            "PUSH_KAFKA__PRODUCER__COMPRESSION_TYPE": "zstd",
            "PUSH_KAFKA__CLIENT__LOG_LEVEL": "7",
        },
    )
    consumer, producer = values["consumer"], values["producer"]
    assert isinstance(consumer, dict)
    assert isinstance(producer, dict)
    assert consumer["fetch.min.bytes"] == "1024"
    assert "fetch.min.bytes" not in producer
    assert producer["compression.type"] == "zstd"
    assert producer["linger.ms"] == "10", "the file's table is kept"
    assert consumer["log_level"] == "7", "librdkafka's one key spelled with an underscore"


def test_a_hyphenated_account_is_set_from_bash_by_its_underscore_name(tmp_path: Path) -> None:
    values = shown(tmp_path, {"PUSH_ACCOUNTS__RS_MAIN__PASSWORD": "from-env"})
    assert values["password"] == "from-env"
    accounts = values["accounts"]
    assert isinstance(accounts, dict)
    assert list(accounts) == ["rs-main"], "no second account rs_main"


def test_a_protected_key_from_bash_is_refused_by_the_cli_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text(FILE)
    done = in_bash(
        {"PUSH_KAFKA__PRODUCER__ACKS": "1", "PUSH_KAFKA__CLIENT__SASL_PASSWORD": "x"},
        f"{shlex.quote(sys.executable)} -m consumer run --config {path}",
    )
    assert done.returncode == 2
    assert "kafka.producer.acks: must stay all (got '1')" in done.stderr
    assert "Traceback" not in done.stderr


def test_an_unknown_key_from_bash_is_named_by_the_cli_without_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text(FILE)
    done = in_bash(
        {"PUSH_KAFKA__CLIENT__SASL_PASSWORD": "x", "PUSH_KAFKA__CLIENT__SECURITY_PROTOCL": "SSL"},
        f"{shlex.quote(sys.executable)} -m consumer run --config {path}",
    )
    assert done.returncode == 2
    assert done.stderr.strip().endswith(
        "invalid settings:\n  kafka.client.security.protocl: not a librdkafka property"
    )
    assert "Traceback" not in done.stderr


def test_account_names_match_ignoring_case_and_dash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "settings.toml"
    path.write_text(FILE.replace("[accounts.rs-main]", "[accounts.RS-Main]"))
    monkeypatch.setenv("PUSH_ACCOUNTS__rs_main__USER_NAME", "other-user")
    settings = load_settings(path)
    assert list(settings.accounts) == ["RS-Main"]
    assert settings.accounts["RS-Main"].user_name == "other-user"  # type: ignore[attr-defined]


def test_the_old_hyphenated_env_form_still_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "settings.toml"
    path.write_text(FILE)
    monkeypatch.setenv("PUSH_ACCOUNTS__rs-main__PASSWORD", "from-env")  # a container env file
    settings = load_settings(path)
    assert settings.accounts["rs-main"].password.get_secret_value() == "from-env"  # type: ignore[attr-defined]


def test_an_env_name_matching_two_accounts_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "settings.toml"
    path.write_text(FILE + FILE[FILE.index("[accounts") :].replace("rs-main", "rs-Main"))
    monkeypatch.setenv("PUSH_ACCOUNTS__RS_MAIN__PASSWORD", "from-env")
    with pytest.raises(ConfigError, match="'rs_main' matches the accounts rs-Main, rs-main"):
        load_settings(path)


def test_an_env_name_spelled_as_one_account_sets_only_that_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "settings.toml"
    path.write_text(FILE + FILE[FILE.index("[accounts") :].replace("rs-main", "rs_main"))
    monkeypatch.setenv("PUSH_ACCOUNTS__RS_MAIN__PASSWORD", "from-env")
    accounts = load_settings(path).accounts
    assert accounts["rs_main"].password.get_secret_value() == "from-env"  # type: ignore[attr-defined]
    assert accounts["rs-main"].password.get_secret_value() == "from-file"  # type: ignore[attr-defined]
