"""The in-process bench: the real pipeline on the simulators, Kafka's parts in memory."""

from __future__ import annotations

import re

import pytest

from push_tools.bench.inprocess import FETCH_BYTES, PARTITIONS, REPOSITORY, consumed, main
from push_tools.bench.workload import Workload


def test_each_tree_drains_every_intent_to_one_outcome_and_reports_its_cpu(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # main() raises unless every intent got an outcome (by distinct key) in every drain
    assert main(["--intents", "300", "--rounds", "1", "--tree", str(REPOSITORY)]) == 0
    out = capsys.readouterr().out
    figures = re.findall(r"minimum (\S+): ([\d.]+) us of CPU per intent", out)
    assert [name for name, _ in figures] == ["current", str(REPOSITORY)]
    assert all(float(us) > 0 for _, us in figures)
    assert len(re.findall(r"\d+ push calls \(ideal \d+\)", out)) == 2  # one per drain


def test_instructions_are_counted_per_intent_and_repeat_from_drain_to_drain(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # the same code twice (this checkout, and this checkout as another tree): ~1 min
    assert main(["--intents", "800", "--rounds", "1", "--instructions",
                 "--tree", str(REPOSITORY)]) == 0  # fmt: skip
    out = capsys.readouterr().out
    counted = [
        int(n.replace(",", "")) for n in re.findall(r"round 1 \S+: ([\d,]+) instructions", out)
    ]
    assert len(counted) == 2
    # an intent's way through the pipeline is ~6 * 10^5 instructions, start-up left out
    assert all(100_000 < n < 5_000_000 for n in counted)
    assert abs(counted[0] - counted[1]) / counted[0] < 0.03  # what makes it worth the wait
    assert out.count("16 push calls (ideal 16)") == 2  # the slowed drains still fill calls


def test_records_come_as_a_backlogs_fetches_bring_them() -> None:
    records = consumed(Workload(20_000))
    assert len(records) == 20_000
    partition_of: dict[bytes | None, set[int]] = {}
    for record in records:
        partition_of.setdefault(record.key, set()).add(record.partition)
    assert len(partition_of) == 10  # the campaigns (8 Azure, 2 Responsys), one partition each
    assert all(len(partitions) == 1 for partitions in partition_of.values())
    for partition in range(PARTITIONS):  # each partition's offsets in order, none skipped
        offsets = [r.offset for r in records if r.partition == partition]
        assert offsets == list(range(len(offsets)))
    runs: list[tuple[int, int]] = []  # (partition, records) of consecutive records: a fetch
    for record in records:
        if runs and runs[-1][0] == record.partition:
            runs[-1] = (record.partition, runs[-1][1] + 1)
        else:
            runs.append((record.partition, 1))
    assert len(runs) < 20_000 / 100  # not interleaved record by record
    value_bytes = max(len(r.value or b"") for r in records)
    assert max(count for _, count in runs) * min(len(r.value or b"") for r in records) <= (
        FETCH_BYTES + value_bytes
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--intents", "0"], "--intents and --rounds must be >= 1"),
        (["--rounds", "-1"], "--intents and --rounds must be >= 1"),
        (["--tree", "/nonexistent"], "no consumer/ package"),
        (["--intents", "many"], "invalid int value"),
        (["--intents", "4", "--instructions"], "--instructions needs --intents >= 8"),
        (["--child", "http://a", "http://b"], "--child needs --records"),
    ],
)
def test_bad_arguments_are_refused_before_anything_starts(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err
