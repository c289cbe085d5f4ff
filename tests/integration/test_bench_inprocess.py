"""The in-process bench: the real pipeline on the simulators, Kafka's parts in memory."""

from __future__ import annotations

import re

import pytest

from push_tools.bench.inprocess import REPOSITORY, main


def test_each_tree_drains_every_intent_to_one_outcome_and_reports_its_cpu(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # main() raises unless every intent got an outcome (by distinct key) in every drain
    assert main(["--intents", "300", "--rounds", "1", "--tree", str(REPOSITORY)]) == 0
    out = capsys.readouterr().out
    figures = re.findall(r"minimum (\S+): ([\d.]+) us of CPU per intent", out)
    assert [name for name, _ in figures] == ["current", str(REPOSITORY)]
    assert all(float(us) > 0 for _, us in figures)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--intents", "0"], "--intents and --rounds must be >= 1"),
        (["--rounds", "-1"], "--intents and --rounds must be >= 1"),
        (["--tree", "/nonexistent"], "no consumer/ package"),
        (["--intents", "many"], "invalid int value"),
    ],
)
def test_bad_arguments_are_refused_before_anything_starts(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err
