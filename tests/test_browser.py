"""End to end: the reference chat service on loopback with a tiny model, its page in headless Chromium.

Debian's ``chromium`` (``.ci/run`` installs it) is driven by Playwright through ``executable_path``;
Playwright's own browser download is never used. Two characters are asked in turn, and each reply on the
page must be exactly what the engine itself answers that character. Where Chromium or Playwright is
missing the test is skipped, except in CI (``CI`` set), which installs both and so fails instead.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from autograder.engine.reference import Reference
from autograder.tools import chat
from autograder.runtime.tiny_models import byte_tokenizer, tiny_llama

MODEL_SEED = 3
CAST = [("Ada", 11, "You are Ada."), ("Brutus", 12, "You are Brutus.")]
PAGE_MAX_NEW_TOKENS = 64       # what chat.html sends (its MAX_NEW_TOKENS)
TIMEOUT_MS = 120_000           # CI machines are slow and loaded


def _missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"CI installs it (.ci/run and the test extra): {reason}")
    pytest.skip(reason)


def _chromium() -> str:
    for candidate in ("chromium", "chromium-browser"):
        found = shutil.which(candidate)
        if found:
            return found
    if Path("/usr/bin/chromium").is_file():
        return "/usr/bin/chromium"
    _missing("no Chromium: install Debian's `chromium` (apt-get install chromium)")
    raise AssertionError  # unreachable


def _adapter(folder: Path, seed: int) -> Path:
    """A tiny LoRA adapter with non-zero B, so each character answers differently."""
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    get_peft_model(tiny_llama(MODEL_SEED, vocab_size=len(byte_tokenizer())), config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def server(assignment, tmp_path_factory) -> Iterator[tuple[str, Any]]:
    """``(base url, engine)`` of the reference service, served by uvicorn on 127.0.0.1 in a thread."""
    import uvicorn

    service = Reference(assignment.solution, assignment.package).module("service")   # part 6's app and page
    folder = tmp_path_factory.mktemp("adapters")
    cast = [chat.Character(name=name, adapter_path=str(_adapter(folder / name, seed)), system_prompt=prompt,
                              greeting=f"{name} is listening.")
            for name, seed, prompt in CAST]
    tokenizer = byte_tokenizer()
    engine = chat.ChatEngine(tiny_llama(MODEL_SEED, vocab_size=len(tokenizer)), tokenizer, cast, service=service)
    app = chat.create_app(engine, service)

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not uv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", engine
    finally:
        uv.should_exit = True
        thread.join(timeout=30)
        sock.close()


def _ask(page: Any, name: str, message: str) -> str:
    """Pick ``name``, send ``message`` and return the text of that character's finished reply."""
    page.wait_for_selector(f'#character option[value="{name}"]', state="attached")
    page.select_option("#character", name)
    page.wait_for_function("name => document.getElementById('greeting').textContent === name + ' is listening.'",
                           arg=name)
    page.fill("#message", message)
    page.click("#send")   # waits until the button is enabled
    reply = page.locator(f'#log .reply[data-character="{name}"]:not(.pending)')
    reply.wait_for(timeout=TIMEOUT_MS)
    assert page.locator("#log .error").count() == 0, page.locator("#log .error").all_text_contents()
    assert page.locator("#log .user:not(.failed)").last.locator(".text").text_content() == message
    return reply.locator(".text").text_content()


def test_two_characters_in_chromium(server, tmp_path):
    executable = _chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("Playwright is not installed (it is in the `test` extra)")
    url, engine = server

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True,
                                             args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            page = browser.new_page(viewport={"width": 900, "height": 700})
            page.set_default_timeout(TIMEOUT_MS)
            posts: list[str] = []
            page.on("request", lambda request: posts.append(request.url.removeprefix(url))
                    if request.method == "POST" else None)
            page.goto(url + "/")
            page.wait_for_selector("#character option", state="attached")
            assert [option.get_attribute("value") for option in page.locator("#character option").all()] \
                == [name for name, _, _ in CAST]

            first, second = CAST[0][0], CAST[1][0]
            first_message, second_message = "Hello, who are you?", "Tell me a story."
            first_reply = _ask(page, first, first_message)
            second_reply = _ask(page, second, second_message)

            expected_first = engine.reply(first, [{"role": "user", "content": first_message}],
                                          max_new_tokens=PAGE_MAX_NEW_TOKENS)
            expected_second = engine.reply(second, [{"role": "user", "content": second_message}],
                                           max_new_tokens=PAGE_MAX_NEW_TOKENS)
            assert expected_first and expected_second
            assert first_reply == expected_first
            assert second_reply == expected_second
            assert first_reply != second_reply
            assert posts == ["/api/chat/stream", "/api/chat/stream"]   # the page streamed, no fallback
            # only the selected character's conversation is on screen, with its name on the reply
            assert page.locator("#log .reply").count() == 1
            assert page.locator("#log .reply .who").text_content() == second
            screenshot = tmp_path / "chat.png"
            page.screenshot(path=str(screenshot), full_page=True)
            assert screenshot.is_file() and screenshot.stat().st_size > 0

            # back to the first character: its conversation is still there
            page.select_option("#character", first)
            page.locator(f'#log .reply[data-character="{first}"]').wait_for()
            assert page.locator("#log .reply .text").all_text_contents() == [expected_first]
            page.screenshot(path=str(tmp_path / "chat-first.png"), full_page=True)
        finally:
            browser.close()
