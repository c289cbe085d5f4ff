"""Ports for a local broker's listeners: free, and never the same one twice."""

from __future__ import annotations

import socket
from pathlib import Path

from push_tools.local.kafka import LocalKafka, ScramUser, free_port, free_ports


def test_ports_picked_together_are_distinct_and_free() -> None:
    ports = free_ports(64)
    assert len(set(ports)) == 64
    for port in ports:  # let go once picked: each can be listened on
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", port))


def test_a_broker_with_a_given_port_listens_elsewhere_for_sasl(tmp_path: Path) -> None:
    given = free_port()
    for run in range(50):
        broker = LocalKafka(tmp_path / str(run), port=given, scram_user=ScramUser("u", "p"))
        sasl_port = int(broker.sasl_bootstrap_servers.rpartition(":")[2])
        assert broker.bootstrap_servers == f"127.0.0.1:{given}"
        assert sasl_port not in (0, given)
