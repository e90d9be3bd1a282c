"""Public tests for part 6, serving (service.py), on tiny random adapters: seconds, no download.

Each character's adapter is a random LoRA on the same tiny Llama (``init_lora_weights=False`` makes the
``B`` factors non-zero, so the characters answer differently). The correct reply of a character is what a
fresh ``PeftModel`` holding only its adapter generates greedily.
"""

import threading
from concurrent.futures import ThreadPoolExecutor

import peft.utils.save_and_load
import pytest
import torch
from peft import LoraConfig, PeftModel, get_peft_model
from tiny_models import byte_tokenizer, tiny_llama

from lora_lab.service import Character, ChatEngine, create_app

NAMES = ("Holmes", "Juliet", "Alice")
HELLO = [{"role": "user", "content": "Good morning! Who are you?"}]
TOKENS = 12


@pytest.fixture(scope="module")
def tokenizer():
    return byte_tokenizer()


@pytest.fixture(scope="module")
def cast(tmp_path_factory, tokenizer):
    folder = tmp_path_factory.mktemp("adapters")
    characters = []
    for seed, name in enumerate(NAMES):
        model = tiny_llama(seed=1, vocab_size=len(tokenizer))
        torch.manual_seed(100 + seed)
        config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
        get_peft_model(model, config).save_pretrained(folder / name.lower())
        characters.append(Character(name=name, adapter_path=folder / name.lower(),
                                    system_prompt=f"You are {name}. Stay in character.",
                                    greeting=f"{name} nods at you."))
    return characters


def make_engine(cast, tokenizer):
    return ChatEngine(tiny_llama(seed=1, vocab_size=len(tokenizer)), tokenizer, cast)


@pytest.fixture(scope="module")
def engine(cast, tokenizer):
    return make_engine(cast, tokenizer)


@pytest.fixture(scope="module")
def client(engine):
    from fastapi.testclient import TestClient

    return TestClient(create_app(engine, max_message_chars=50))


def alone(character, tokenizer, messages, max_new_tokens=TOKENS):
    """The reply of ``character`` from a PeftModel holding its adapter only: the reference for correctness."""
    model = PeftModel.from_pretrained(tiny_llama(seed=1, vocab_size=len(tokenizer)), str(character.adapter_path))
    conversation = [{"role": "system", "content": character.system_prompt}] + messages
    prompt = tokenizer.apply_chat_template(conversation, add_generation_prompt=True, tokenize=True, return_dict=False)
    input_ids = torch.tensor([list(prompt)])
    with torch.no_grad():
        output = model.eval().generate(input_ids=input_ids, attention_mask=torch.ones_like(input_ids),
                                       max_new_tokens=max_new_tokens, do_sample=False,
                                       eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    return tokenizer.decode(output[0, input_ids.shape[1]:], skip_special_tokens=True).strip()


def question(number):
    return [{"role": "user", "content": f"Question {number}: what do you see?"}]


# ----------------------------------------------------------------------------------------- the engine

def test_characters_in_the_given_order(engine, cast):
    assert engine.characters() == list(NAMES)
    assert engine.character("Juliet") == cast[1]


def test_bad_casts_are_refused(cast, tokenizer):
    with pytest.raises(ValueError):
        ChatEngine(tiny_llama(seed=1, vocab_size=len(tokenizer)), tokenizer, [])
    with pytest.raises(ValueError):
        ChatEngine(tiny_llama(seed=1, vocab_size=len(tokenizer)), tokenizer, [cast[0], cast[0]])


def test_greedy_replies_are_deterministic_and_differ_between_characters(engine):
    replies = [engine.reply(name, HELLO, max_new_tokens=TOKENS) for name in NAMES]
    assert all(isinstance(reply, str) and reply for reply in replies)
    assert replies == [engine.reply(name, HELLO, max_new_tokens=TOKENS) for name in NAMES]
    assert len(set(replies)) == len(NAMES), "the characters answer alike: is each reply using its own adapter?"


def test_each_reply_is_what_the_character_alone_says(engine, cast, tokenizer):
    conversation = HELLO + [{"role": "assistant", "content": "A pleasure."}, {"role": "user", "content": "Go on."}]
    for character in cast:
        assert engine.reply(character.name, HELLO, max_new_tokens=TOKENS) == alone(character, tokenizer, HELLO)
        assert engine.reply(character.name, conversation, max_new_tokens=5) == \
            alone(character, tokenizer, conversation, max_new_tokens=5)


def test_bad_arguments(engine):
    with pytest.raises(KeyError):
        engine.reply("Moriarty", HELLO)
    with pytest.raises(ValueError):
        engine.reply("Holmes", HELLO, max_new_tokens=0)
    with pytest.raises(ValueError):
        engine.reply("Holmes", [])


def test_simultaneous_replies_never_cross(engine):
    jobs = [(name, number) for number in range(2) for name in NAMES]
    expected = {job: engine.reply(job[0], question(job[1]), max_new_tokens=TOKENS) for job in jobs}
    def ask(job, start):
        start.wait()  # everyone calls reply at the same moment
        return engine.reply(job[0], question(job[1]), max_new_tokens=TOKENS)

    for _ in range(3):
        start = threading.Barrier(len(jobs))
        with ThreadPoolExecutor(len(jobs)) as pool:
            got = dict(zip(jobs, pool.map(ask, jobs, [start] * len(jobs))))
        assert got == expected


def test_switching_characters_reloads_nothing(cast, tokenizer, monkeypatch):
    calls = {"load_adapter": 0, "weight_files": 0}
    load_adapter, read_weights = PeftModel.load_adapter, peft.utils.save_and_load.safe_load_file

    def counted_load_adapter(self, *args, **kwargs):
        calls["load_adapter"] += 1
        return load_adapter(self, *args, **kwargs)

    def counted_read_weights(*args, **kwargs):
        calls["weight_files"] += 1
        return read_weights(*args, **kwargs)

    monkeypatch.setattr(PeftModel, "load_adapter", counted_load_adapter)
    monkeypatch.setattr(peft.utils.save_and_load, "safe_load_file", counted_read_weights)
    engine = make_engine(cast, tokenizer)
    assert calls["weight_files"] == len(cast), "the constructor should read each adapter exactly once"
    loaded = dict(calls)
    for name in NAMES * 2 + NAMES[::-1]:
        engine.reply(name, HELLO, max_new_tokens=2)
    assert calls == loaded, "replying read adapter weights again: switching should only select an adapter"


# -------------------------------------------------------------------------------------------- the API

def test_characters_health_and_page(client):
    response = client.get("/api/characters")
    assert response.status_code == 200
    assert response.json() == [{"name": name, "greeting": f"{name} nods at you."} for name in NAMES]
    assert client.get("/healthz").json() == {"status": "ok", "characters": 3}
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for element in ('id="character"', 'id="message"', 'id="send"', 'id="log"'):
        assert element in page.text


def test_chat(client, engine):
    response = client.post("/api/chat", json={"character": "Alice", "messages": HELLO, "max_new_tokens": TOKENS})
    assert response.status_code == 200
    assert response.json() == {"character": "Alice", "reply": engine.reply("Alice", HELLO, max_new_tokens=TOKENS)}
    default = client.post("/api/chat", json={"character": "Alice", "messages": HELLO})
    assert default.status_code == 200 and default.json()["reply"] == engine.reply("Alice", HELLO)


def test_unknown_character_is_404(client):
    response = client.post("/api/chat", json={"character": "Moriarty", "messages": HELLO})
    assert response.status_code == 404
    assert "Holmes" in response.json()["error"], "the error should name the known characters"


@pytest.mark.parametrize("body", [
    {"messages": HELLO},                                                      # no character
    {"character": "Holmes"},                                                  # no messages
    {"character": "Holmes", "messages": []},                                  # nothing said
    {"character": "Holmes", "messages": "hello"},                             # not a list
    {"character": "Holmes", "messages": [{"role": "user"}]},                  # no content
    {"character": "Holmes", "messages": [{"role": "user", "content": 42}]},   # not a string
    {"character": "Holmes", "messages": [{"role": "system", "content": "Obey."}]},  # not user/assistant
    {"character": "Holmes", "messages": HELLO, "max_new_tokens": 0},
    {"character": "Holmes", "messages": HELLO, "max_new_tokens": 513},
    {"character": "Holmes", "messages": HELLO, "max_new_tokens": "many"},
])
def test_malformed_body_is_422(client, body):
    assert client.post("/api/chat", json=body).status_code == 422


def test_too_long_message_is_413(client):
    limit = [{"role": "user", "content": "x" * 50}]
    assert client.post("/api/chat", json={"character": "Holmes", "messages": limit, "max_new_tokens": 1}).status_code \
        == 200
    long = HELLO + [{"role": "assistant", "content": "y" * 51}, {"role": "user", "content": "And?"}]
    response = client.post("/api/chat", json={"character": "Holmes", "messages": long, "max_new_tokens": 1})
    assert response.status_code == 413 and response.json()["error"]


def test_engine_failure_is_500_and_the_server_goes_on(engine, monkeypatch):
    from fastapi.testclient import TestClient

    client = TestClient(create_app(engine), raise_server_exceptions=False)

    def broken(*args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(engine, "reply", broken)
    response = client.post("/api/chat", json={"character": "Holmes", "messages": HELLO})
    assert response.status_code == 500 and response.json()["error"]
    monkeypatch.undo()
    assert client.get("/healthz").status_code == 200
    assert client.post("/api/chat", json={"character": "Holmes", "messages": HELLO, "max_new_tokens": 2}) \
        .status_code == 200
