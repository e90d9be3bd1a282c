"""The service checks' feedback shows what the student's server answered: the status and the first 300
characters of the body, escaped (control characters and terminal escapes never reach a report)."""

from __future__ import annotations

import random

import pytest

from autograder.parts import CHECKS
from autograder.core.model import Fail, Outcome
from autograder.parts.service.checks import BODY_SHOWN


def response(status: int, json=None, text: str = "", content_type: str = "application/json") -> dict:
    return {"status": status, "json": json, "content_type": content_type, "text": text, "error": ""}


def failure(check_id: str, responses: list[dict]) -> str:
    """The feedback of ``check_id`` on the answers the grading process read from the served app."""
    check = CHECKS[check_id]
    calls = check.plan(random.Random(0))
    grant = {"granted": True, "served": responses}
    with pytest.raises(Fail) as caught:
        check.judge(calls, [Outcome(ok=True, value={"direct": []}, observed={"grant": grant})], [])
    return str(caught.value)


def test_an_app_that_was_never_served_fails_with_the_reason():
    check = CHECKS["service/page"]
    calls = check.plan(random.Random(0))
    for observed in (None, {"grant": None}, {"grant": {"granted": False, "why": "ServedError: nothing listens"}}):
        with pytest.raises(Fail) as caught:
            check.judge(calls, [Outcome(ok=True, value={"direct": []}, observed=observed)], [])
        assert "could not send its requests to your app" in str(caught.value)


def test_a_request_without_answer_says_why():
    message = failure("service/page", [response(0) | {"error": "no complete answer within 30 s"}, response(200, {})])
    assert "GET / got no answer: no complete answer within 30 s" in message


def test_a_failed_page_shows_the_error_body_that_names_the_missing_file():
    message = failure("service/page", [response(500, {"error": "[Errno 2] No such file: 'lora_lab/chat.html'"}),
                                       response(200, {"status": "ok"})])
    assert "got 500 'application/json'" in message and "chat.html" in message


def test_the_body_is_cut_at_300_characters_and_escaped():
    body = "\x1b[2J" + "y" * 1000
    message = failure("service/page", [response(500, text=body, content_type="text/plain"), response(200, {})])
    assert "\x1b" not in message and "\\x1b[2J" in message
    assert "y" * (BODY_SHOWN - 4) in message and "y" * (BODY_SHOWN - 3) not in message
    assert f"first {BODY_SHOWN} of {len(body)} characters" in message


def test_api_errors_feedback_shows_the_body_of_the_wrong_answer():
    responses = [response(400, {"error": "no such character: Moriarty"})] + [response(422, {"detail": []})] * 5
    message = failure("service/api_errors", responses)
    assert "expected status 404, got 400" in message and "no such character: Moriarty" in message
