"""Hidden checks of part ``service``: the multi-character ChatEngine and its web API.

Every check builds a tiny base model and one tiny adapter per character with non-zero ``B`` (so every
character answers differently), then compares greedy replies with the reference's for the same adapter.

The web API checks (``api_chat``, ``api_errors``, ``page``) judge HTTP answers measured from outside the
worker: the probe serves the student's ``create_app(engine)`` on a Unix socket in ``out/`` and the grading
process itself sends the requests and reads the answers (``ProbeCall.served``, ``sandbox.served``); nothing
the worker reports about them is read. ``loads_once``'s count of opens cannot see an adapter re-read from
memory or from ``/dev/shm``: a claim, worth 1 point (see ``autograder/SECURITY.md``, *What each check trusts*).
"""

from __future__ import annotations

import json
import random
from typing import Any

from ...core.model import Check, Fail, ProbeCall, register
from ..compare import field, fmt_value, reference_value, result_of
from . import probes

NAMES = ("Holmes", "Alice", "Juliet", "Elizabeth", "Hatter", "Watson")
OPENERS = ("Good morning!", "Who are you?", "What do you make of this letter?", "Tell me a secret.",
           "Where were you last night?", "Is it going to rain?", "What is your favourite book?")


BODY_SHOWN = 300


def shown_body(response: dict[str, Any]) -> str:
    """The first ``BODY_SHOWN`` characters of a response's body, escaped (the student's server wrote it)."""
    body = response.get("json")
    text = json.dumps(body, ensure_ascii=False) if body is not None else str(response.get("text") or "")
    cut = text[:BODY_SHOWN]
    # repr escapes control and other unprintable characters (terminal escapes, bidi overrides).
    return f"body {cut!r}" + (f" (first {BODY_SHOWN} of {len(text)} characters)" if len(text) > BODY_SHOWN else "")


def cast(rng: random.Random, count: int = 3) -> list[dict]:
    """``count`` characters in an order that is not alphabetical, so sorting them shows."""
    names = rng.sample(NAMES, count)
    while count > 1 and names == sorted(names):
        rng.shuffle(names)
    return [{"name": name, "seed": rng.randint(0, 10_000), "system_prompt": f"You are {name}.",
             "greeting": f"{name} nods."} for name in names]


def conversation(rng: random.Random) -> list[dict]:
    if rng.random() < 0.5:
        return [{"role": "user", "content": rng.choice(OPENERS)}]
    return [{"role": "user", "content": rng.choice(OPENERS)}, {"role": "assistant", "content": "Indeed."},
            {"role": "user", "content": rng.choice(OPENERS)}]


def interleaved(rng: random.Random, characters: list[dict], count: int) -> list[list]:
    """Requests that switch character every time: A, B, C, A, B, C, ..."""
    return [[characters[index % len(characters)]["name"], conversation(rng)] for index in range(count)]


def plan_args(rng: random.Random, count: int = 6) -> dict:
    characters = cast(rng)
    return {"model_seed": rng.randint(0, 10_000), "characters": characters,
            "requests": interleaved(rng, characters, count), "max_new_tokens": 10}


def expect_replies(got: list, want: list, requests: list, what: str) -> None:
    if not isinstance(got, list) or len(got) != len(want):
        raise Fail(f"{what}: expected {len(want)} replies, got {fmt_value(got)}")
    for (name, messages), mine, theirs in zip(requests, got, want):
        if mine != theirs:
            raise Fail(f"{what}: {name}'s greedy reply to {messages[-1]['content']!r} should be the reply of "
                       f"{name}'s adapter, {theirs!r}, but it is {mine!r} (the test model is a tiny random model, "
                       f"so replies are arbitrary bytes: only equality matters); is the right adapter active for "
                       f"every request, the system prompt first, the chat template's generation prompt added, and "
                       f"temperature 0 greedy?")


@register
class Characters(Check):
    id = "characters"
    title = "characters() lists every character, in the given order"

    def plan(self, rng):
        args = plan_args(rng, count=1)
        args["characters"] = cast(rng, 5)
        args["requests"] = interleaved(rng, args["characters"], 1)
        return [ProbeCall(probes.replies, args)]

    def judge(self, calls, got, want):
        what = "ChatEngine(model, tokenizer, characters).characters()"
        names = field(result_of(got[0], what), "characters", what)
        expected = [character["name"] for character in calls[0].args["characters"]]
        if names != expected:
            raise Fail(f"{what}: expected {expected}, got {fmt_value(names)}")


@register
class GreedyReplies(Check):
    id = "greedy_replies"
    title = "each character's greedy reply is the reply of its own adapter, switching on every request"

    def plan(self, rng):
        return [ProbeCall(probes.replies, plan_args(rng, count=6))]

    def judge(self, calls, got, want):
        what = "engine.reply(character, messages, max_new_tokens=10) for interleaved characters"
        value = result_of(got[0], what)
        expected = reference_value(want[0], what)["replies"]
        expect_replies(field(value, "replies", what), expected, calls[0].args["requests"], what)
        if len(set(expected)) < 2:
            raise RuntimeError("the tiny adapters answered alike; the check cannot tell them apart")


def fresh_requests(rng: random.Random, characters: list[dict], count: int) -> list[list]:
    """``count`` requests, no two alike, switching character every time: a reply memoised from an earlier
    request can never be the answer to one of these."""
    requests, seen = [], set()
    while len(requests) < count:
        name = characters[len(requests) % len(characters)]["name"]
        messages = conversation(rng)
        messages[-1]["content"] += f" ({rng.randint(100, 999)})"
        if (name, messages[-1]["content"]) not in seen:
            seen.add((name, messages[-1]["content"]))
            requests.append([name, messages])
    return requests


@register
class Concurrency(Check):
    id = "concurrency"
    title = "simultaneous requests from threads for different characters never cross adapters"

    def plan(self, rng):
        args = plan_args(rng, count=0)
        requests = fresh_requests(rng, args["characters"], 30)
        return [ProbeCall(probes.concurrent, {**args, "alone": requests[:6], "requests": requests[6:], "threads": 6})]

    def judge(self, calls, got, want):
        args = calls[0].args
        what = f"{args['threads']} threads sending {len(args['requests'])} different requests at once"
        value, reference = result_of(got[0], what), reference_value(want[0], what)
        expect_replies(field(value, "alone", what), reference["alone"], args["alone"], "one request at a time")
        together, expected = field(value, "together", what), reference["together"]
        if not isinstance(together, list) or len(together) != len(expected):
            raise Fail(f"{what}: expected {len(expected)} replies, got {fmt_value(together)}")
        crossed = [index for index, (mine, theirs) in enumerate(zip(together, expected)) if mine != theirs]
        if crossed:
            name, messages = args["requests"][crossed[0]]
            raise Fail(f"{what}: {len(crossed)} of {len(expected)} replies are not their character's; {name}'s reply "
                       f"to {messages[-1]['content']!r} was {together[crossed[0]]!r}, but {name}'s adapter answers "
                       f"{expected[crossed[0]]!r}: requests crossed adapters (PEFT's set_adapter is global state on "
                       f"the shared model; serialise generation with a lock or select the adapter per request)")


@register
class LoadsOnce(Check):
    id = "loads_once"
    title = "every adapter is read from disk once; switching characters never reloads weights"

    SLACK = 3

    def plan(self, rng):
        # 5 requests per character: an engine that reloads on every request opens each file 5 times more
        return [ProbeCall(probes.loads, plan_args(rng, count=15), inputs=probes.adapter_files)]

    def judge(self, calls, got, want):
        args = calls[0].args
        what = f"ChatEngine with {len(args['characters'])} characters, then {len(args['requests'])} interleaved requests"
        expect_replies(field(result_of(got[0], what), "replies", what),
                       reference_value(want[0], what)["replies"], args["requests"], what)
        # Counted by the grading process from the kernel (inotify on the grader's adapter files), never by
        # the worker. Loading once opens a file as often as the reference does (2 to 3 times: PEFT and
        # safetensors peek at it first; the kernel may merge back-to-back opens), plus SLACK for libraries that
        # peek more. A reload on every request adds at least 5.
        opens, allowed = (got[0].observed or {}).get("opens"), (want[0].observed or {}).get("opens")
        if not allowed:
            raise RuntimeError("the grader could not count opens of the adapter files (no inotify on this machine)")
        for number, spec in enumerate(args["characters"]):
            name = f"a{number}/adapter_model.safetensors"
            count = (opens or {}).get(name)
            if count is None:
                raise Fail(f"{what}: the adapter files were opened too often to count; load each adapter once")
            if count == 0:
                raise Fail(f"{what}: {spec['name']}'s adapter file was never read; load every character's adapter "
                           f"(from Character.adapter_path) when the engine is built")
            if count > allowed[name] + self.SLACK:
                raise Fail(f"{what}: {spec['name']}'s adapter file was opened {count} times (loading it once takes "
                           f"{allowed[name]}); load each adapter once, then switch between the loaded adapters by name")
        # A copy is counted too: every file the worker's code wrote in its writable folders (a temporary
        # folder included) may be opened no more often than a handed adapter file may.
        written = (got[0].observed or {}).get("written")
        if written is None:
            raise Fail(f"{what}: the files your code wrote were opened too often to count; load each adapter once")
        limit = max(allowed.values()) + self.SLACK
        for path, count in written.items():
            if count > limit:
                raise Fail(f"{what}: a file your code wrote, {path[:120]!r}, was opened {count} times while the adapters "
                           f"were served (loading an adapter once opens it at most {max(allowed.values())} times): "
                           f"re-reading a copy of an adapter on every request reloads it just the same; load each "
                           f"adapter once, then switch between the loaded adapters by name")


def responses_of(got: Any, calls: list[dict], what: str) -> list[dict]:
    """The answers the grading process read from the student's app, one ``{status, json, content_type,
    text, error}`` per planned request (``Outcome.observed["grant"]["served"]``, measured outside the
    worker), or :class:`Fail` when the probe failed or the app could not be served or reached."""
    result_of(got, what)   # the student's error, when create_app or the engine raised
    grant = (got.observed or {}).get("grant")
    if not grant or not grant.get("granted") or not isinstance(grant.get("served"), list):
        why = grant["why"] if grant and grant.get("why") else "the probe never asked to be queried"
        raise Fail(f"{what}: the grader could not send its requests to your app ({why}); create_app(engine) must "
                   f"return the FastAPI app, and do not change how the grader's probe serves it")
    answers = grant["served"]
    if len(answers) != len(calls):
        raise RuntimeError("the grader read a different number of answers than it sent requests")
    for call, answer in zip(calls, answers):
        if answer["error"]:
            raise Fail(f"{what}: {call['method']} {call['path']} got no answer: {answer['error']}")
    return answers


def chat(character: str, content: str, **extra) -> dict:
    return {"method": "POST", "path": "/api/chat",
            "json": {"character": character, "messages": [{"role": "user", "content": content}], **extra}}


@register
class ApiChat(Check):
    id = "api_chat"
    title = "GET /api/characters and POST /api/chat return the engine's characters and replies as JSON"

    def plan(self, rng):
        characters = cast(rng)
        calls = [{"method": "GET", "path": "/api/characters"}]
        for character in characters:
            calls.append({**chat(character["name"], rng.choice(OPENERS), max_new_tokens=8), "expect_reply": True})
        return [ProbeCall(probes.http, {"model_seed": rng.randint(0, 10_000), "characters": characters,
                                           "calls": calls}, served=probes.requests)]

    def judge(self, calls, got, want):
        responses = responses_of(got[0], calls[0].args["calls"], "the web API")
        direct = reference_value(want[0], "the web API")["direct"]  # the reference's replies, not the engine's own
        characters = calls[0].args["characters"]
        if len(direct) != len(calls[0].args["calls"]) - 1:
            raise RuntimeError("the reference gave no reply for some /api/chat request")
        listing = responses[0]
        if listing["status"] != 200 or not isinstance(listing["json"], list):
            raise Fail(f"GET /api/characters: expected 200 with a JSON list, got {listing['status']}, {shown_body(listing)}")
        names = [item.get("name") if isinstance(item, dict) else None for item in listing["json"]]
        if names != [c["name"] for c in characters]:
            raise Fail(f"GET /api/characters: expected [{{'name': ..., 'greeting': ...}}] for "
                       f"{[c['name'] for c in characters]}, got {fmt_value(listing['json'])}")
        for call, response, reply in zip(calls[0].args["calls"][1:], responses[1:], direct):
            what = f"POST /api/chat for {call['json']['character']}"
            body = response["json"]
            if response["status"] != 200 or not isinstance(body, dict):
                raise Fail(f"{what}: expected 200 with {{'character', 'reply'}}, got {response['status']}, {shown_body(response)}")
            if body.get("character") != call["json"]["character"] or body.get("reply") != reply:
                raise Fail(f"{what}: expected {{'character': {call['json']['character']!r}, 'reply': {reply!r}}} "
                           f"(the reply of that character's adapter), got {fmt_value(body)}")


@register
class ApiErrors(Check):
    id = "api_errors"
    title = "unknown character 404, malformed body 422, message over the limit 413, as JSON; the server survives"

    CASES = (("an unknown character", 404), ("a body without 'messages'", 422), ("'messages' that is not a list", 422),
             ("a message without 'content'", 422), ("a message over 2000 characters", 413))
    STRANGERS = ("Moriarty", "Lestrade", "Mrs Hudson", "Irene Adler", "Mycroft")

    def plan(self, rng):
        characters = cast(rng, 2)
        name = characters[0]["name"]
        calls = [chat(rng.choice(self.STRANGERS), rng.choice(OPENERS)),
                 {"method": "POST", "path": "/api/chat", "json": {"character": name}},
                 {"method": "POST", "path": "/api/chat", "json": {"character": name, "messages": rng.choice(OPENERS)}},
                 {"method": "POST", "path": "/api/chat", "json": {"character": name, "messages": [{"role": "user"}]}},
                 chat(name, "x" * rng.randint(2500, 6000)),
                 chat(name, rng.choice(OPENERS), max_new_tokens=4)]
        return [ProbeCall(probes.http, {"model_seed": rng.randint(0, 10_000), "characters": characters,
                                           "calls": calls}, served=probes.requests)]

    def judge(self, calls, got, want):
        responses = responses_of(got[0], calls[0].args["calls"], "the web API")
        for (case, status), response in zip(self.CASES, responses):
            what = f"POST /api/chat with {case}"
            if response["status"] != status:
                raise Fail(f"{what}: expected status {status}, got {response['status']}, {shown_body(response)}")
            if status != 422 and not (isinstance(response["json"], dict) and isinstance(response["json"].get("error"), str)):
                raise Fail(f"{what}: the error should be a JSON object {{\"error\": \"<what is wrong>\"}}, got "
                           f"{shown_body(response)}")
        last = responses[-1]
        if last["status"] != 200:
            raise Fail(f"after those bad requests a good one should still be answered with 200, got {last['status']}, "
                       f"{shown_body(last)}")


@register
class Page(Check):
    id = "page"
    title = "GET / serves the chat page and GET /healthz answers"

    def plan(self, rng):
        return [ProbeCall(probes.http, {"model_seed": rng.randint(0, 10_000), "characters": cast(rng, 2),
                                           "calls": [{"method": "GET", "path": "/"}, {"method": "GET", "path": "/healthz"}]},
                          served=probes.requests)]

    def judge(self, calls, got, want):
        page, health = responses_of(got[0], calls[0].args["calls"], "the web API")
        if page["status"] != 200 or "text/html" not in page["content_type"] or "<" not in page["text"]:
            raise Fail(f"GET /: expected 200 with an HTML page (content-type text/html), got {page['status']} "
                       f"{page['content_type']!r}, {shown_body(page)}")
        if "/api/chat" not in page["text"] and "<script" not in page["text"]:
            raise Fail("GET /: the page should let a person pick a character and chat (it never calls /api/chat)")
        if health["status"] != 200:
            raise Fail(f"GET /healthz: expected 200, got {health['status']}, {shown_body(health)}")


@register
class GpuReplies(Check):
    id = "gpu_replies"
    title = "on CUDA: each character's greedy reply is the reply of its own adapter"

    def plan(self, rng):
        return [ProbeCall(probes.replies, {**plan_args(rng, count=6), "device": "cuda"})]

    def judge(self, calls, got, want):
        what = "engine.reply on a CUDA model"
        expected = reference_value(want[0], what)["replies"]
        expect_replies(field(result_of(got[0], what), "replies", what), expected, calls[0].args["requests"], what)
