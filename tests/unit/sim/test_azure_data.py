"""The Azure simulator's checks of a `data` override against the Campaign format."""

from __future__ import annotations

import pytest

from push_tools.sim.azure_config import AzureKind
from push_tools.sim.azure_data import data_problem

ANNOUNCEMENT = AzureKind.ANNOUNCEMENTS


def poll(*choices: int, default: int = 0) -> dict:
    return {
        "questions": [
            {
                "id": q,
                "title": f"Q{q}",
                "choices": [
                    {"id": c, "title": f"C{c}", "isDefault": c < default} for c in range(count)
                ],
            }
            for q, count in enumerate(choices)
        ]
    }


def test_the_seed_override_is_fine():
    data = {
        "notificationTitle": "Your command number #123 has been shipped!",
        "notificationMessage": "Click to track it.",
        "actionUrl": "http://mysite.com/commands/123",
    }
    assert data_problem(ANNOUNCEMENT, data, None) is None


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"notificationTitle": "x" * 2001}, "data.notificationTitle is longer than 2000"),
        ({"notificationMessage": "x" * 4001}, "data.notificationMessage is longer than 4000"),
        ({"title": "x" * 129}, "data.title is longer than 128"),
        ({"actionButtonText": "x" * 65}, "data.actionButtonText is longer than 64"),
        ({"actionUrl": "x" * 2001}, "data.actionUrl is longer than 2000"),
        ({"category": "x" * 65}, "data.category is longer than 64"),
        ({"title": 5}, "data.title must be a string"),
        ({"notificationOptions": {"bigText": "x" * 4001}}, "bigText is longer than 4000"),
        ({"localization": {"fr": {"title": "x" * 129}}}, "data.localization.fr.title"),
        ({"localization": ["fr"]}, "localization must map language codes"),
        ({"type": "text/markdown"}, "data.type must be one of"),
        ({"deliveryTime": "never"}, "data.deliveryTime must be one of"),
        ({"notificationType": "toast"}, "data.notificationType must be one of"),
    ],
)
def test_announcement_field_rules(data, fragment):
    assert fragment in (data_problem(ANNOUNCEMENT, data, None) or "")


def test_lengths_at_the_limit_are_fine():
    data = {"notificationTitle": "x" * 2000, "title": "x" * 128, "body": "x" * 65535}
    assert data_problem(ANNOUNCEMENT, data, None) is None


def test_a_poll_override_must_keep_the_question_and_choice_counts():
    assert data_problem(AzureKind.POLLS, poll(3, 2), (3, 2)) is None
    for other in (poll(3), poll(3, 2, 2), poll(2, 3), {"title": "no questions"}):
        problem = data_problem(AzureKind.POLLS, other, (3, 2))
        assert problem is not None
        assert "questions" in problem


def test_a_poll_of_unknown_shape_still_checks_titles_and_defaults():
    assert data_problem(AzureKind.POLLS, {"title": "t"}, None) is None
    assert "more than one default" in (
        data_problem(AzureKind.POLLS, poll(3, default=2), None) or ""
    )
    long_title = poll(2)
    long_title["questions"][0]["choices"][1]["title"] = "x" * 257
    assert "choices[1].title is longer than 256" in (
        data_problem(AzureKind.POLLS, long_title, None) or ""
    )


def test_data_push_body_limits_and_base64():
    kind = AzureKind.DATA_PUSHES
    assert data_problem(kind, {"type": "text/base64", "body": "aGVsbG8="}, None) is None
    assert "base64" in (data_problem(kind, {"type": "text/base64", "body": "hello!"}, None) or "")
    assert "65535 bytes" in (data_problem(kind, {"body": "\u20ac" * 30000}, None) or "")
    assert "data.type must be one of" in (data_problem(kind, {"type": "text/html"}, None) or "")


def test_native_payload_over_256_bytes_is_refused():
    kind = AzureKind.NATIVE_PUSHES
    assert data_problem(kind, {"payload": {"aps": {"alert": "x" * 200}}}, None) is None
    problem = data_problem(kind, {"payload": {"aps": {"alert": "x" * 250}}}, None)
    assert "the limit is 256" in (problem or "")
