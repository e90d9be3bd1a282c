"""The course's own service (autograder/tools/chat.py, behind `course serve`; not graded): mixed-adapter batches,
the microsecond adapter switch, the LRU of resident adapters, streaming, metrics and foreign adapters.

Every reply is compared with the ground truth: greedy ``generate`` of a fresh ``PeftModel`` that holds
that character's adapter only.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch
from peft import LoraConfig, PeftModel, get_peft_model

from autograder.engine.reference import Reference
from autograder.runtime.tiny_models import byte_tokenizer, tiny_llama
from autograder.tools import chat

NAMES = ("Holmes", "Juliet", "Alice", "Darcy")
TOKENS = 10


@pytest.fixture(scope="module")
def service():
    return chat


@pytest.fixture(scope="module")
def reference(assignment):
    """Part 6's reference module: its app, page and argument checks, which the course's service uses."""
    return Reference(assignment.solution, assignment.package).module("service")


@pytest.fixture(scope="module")
def tokenizer():
    return byte_tokenizer()


def save_adapter(folder, tokenizer, seed: int, base_seed: int = 1, **model_options):
    torch.manual_seed(seed)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    get_peft_model(tiny_llama(base_seed, vocab_size=len(tokenizer), **model_options), config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def cast(service, tokenizer, tmp_path_factory):
    folder = tmp_path_factory.mktemp("adapters")
    return [service.Character(name=name, adapter_path=save_adapter(folder / name.lower(), tokenizer, 200 + number),
                              system_prompt=f"You are {name}.") for number, name in enumerate(NAMES)]


@pytest.fixture(scope="module")
def engine_of(reference):
    """``engine_of(service, cast, tokenizer, **options)``: the course's engine on the tiny model."""
    def make(service, cast, tokenizer, **options):
        return service.ChatEngine(tiny_llama(1, vocab_size=len(tokenizer)), tokenizer, cast, service=reference,
                                  **options)

    return make


def question(number: int) -> list[dict]:
    return [{"role": "user", "content": "Why?" + " Tell me more." * (number % 3)}]


@pytest.fixture(scope="module")
def truth(cast, tokenizer):
    """``truth(character, messages)``: the reply of a PeftModel holding that character's adapter only."""
    models = {character.name: PeftModel.from_pretrained(tiny_llama(1, vocab_size=len(tokenizer)),
                                                        str(character.adapter_path)).eval() for character in cast}
    prompts = {character.name: character.system_prompt for character in cast}

    def reply(name: str, messages: list[dict]) -> str:
        conversation = [{"role": "system", "content": prompts[name]}] + messages
        ids = torch.tensor([list(tokenizer.apply_chat_template(conversation, add_generation_prompt=True,
                                                               tokenize=True, return_dict=False))])
        with torch.no_grad():
            output = models[name].generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False,
                                           max_new_tokens=TOKENS, eos_token_id=tokenizer.eos_token_id,
                                           pad_token_id=tokenizer.pad_token_id)
        return tokenizer.decode(output[0, ids.shape[1]:], skip_special_tokens=True).strip()

    return reply


def test_requests_that_arrive_together_share_a_batch_and_each_gets_its_own_reply(engine_of, service,
                                                                                 cast, tokenizer, truth):
    engine = engine_of(service, cast, tokenizer)
    requests = [(NAMES[number % len(NAMES)], question(number)) for number in range(12)]
    start = threading.Barrier(len(requests))

    def ask(request):
        start.wait(timeout=30)
        return engine.reply(*request, max_new_tokens=TOKENS)

    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        replies = list(pool.map(ask, requests))
    assert replies == [truth(*request) for request in requests]
    assert len(set(replies)) > 1
    metrics = engine.metrics()
    assert metrics["requests"] == len(requests)
    assert metrics["batches"] < len(requests), "12 requests at once should share batches"
    assert metrics["adapter_loads"] == len(NAMES)


def test_the_adapter_switch_touches_only_lora_layers_and_equals_set_adapter(engine_of, service,
                                                                            cast, tokenizer, truth):
    engine = engine_of(service, cast, tokenizer)
    order = ["Juliet", "Holmes", "Holmes", "Alice", "Juliet", "Darcy", "Holmes"]
    assert [engine.reply(name, question(1), max_new_tokens=TOKENS) for name in order] == \
        [truth(name, question(1)) for name in order]
    core = engine._core
    lora_layers = [module for module in engine.model.modules() if hasattr(module, "lora_A")]
    assert len(core.lora_layers) == len(lora_layers) > 0
    # after a fast switch every LoRA layer reports the adapter that PEFT's set_adapter would have set
    core.activate(core.adapter["Alice"])
    assert {layer.active_adapter for layer in lora_layers} == {core.adapter["Alice"]}
    assert engine.model.active_adapter == core.adapter["Alice"]


def test_at_most_max_resident_adapters_stay_loaded(engine_of, service, cast, tokenizer, truth):
    engine = engine_of(service, cast, tokenizer, max_resident=2)
    order = list(NAMES) * 2
    assert [engine.reply(name, question(2), max_new_tokens=TOKENS) for name in order] == \
        [truth(name, question(2)) for name in order]
    metrics = engine.metrics()
    assert len(metrics["resident"]) <= 2 and metrics["resident"][-1] == order[-1]
    assert metrics["adapter_loads"] == len(order)       # a cycle over 4 with room for 2 always misses
    assert len(engine.model.peft_config) <= 2


def test_stream_and_metrics_endpoints(engine_of, service, reference, cast, tokenizer, truth):
    from fastapi.testclient import TestClient

    client = TestClient(service.create_app(engine_of(service, cast, tokenizer), reference))
    body = {"character": "Juliet", "messages": question(0), "max_new_tokens": TOKENS}
    response = client.post("/api/chat/stream", json=body)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    events = [json.loads(line.removeprefix("data: ")) for line in response.text.splitlines() if line.startswith("data: ")]
    assert events[-1]["done"] is True and events[-1]["reply"] == truth("Juliet", question(0))
    assert "".join(event.get("token", "") for event in events[:-1]).strip() == events[-1]["reply"]
    assert client.post("/api/chat/stream", json={**body, "character": "Moriarty"}).status_code == 404
    assert client.post("/api/chat", json={**body, "character": "Holmes"}).status_code == 200
    metrics = client.get("/api/metrics").json()
    assert metrics["requests"] == 2 and set(metrics["latency_ms"]) == set(NAMES)
    assert metrics["latency_ms"]["Juliet"]["count"] == 1


def test_an_adapter_made_for_another_base_model_is_refused(engine_of, service, cast, tokenizer, tmp_path):
    foreign = service.Character(name="Stranger", system_prompt="You are a stranger.",
                                adapter_path=save_adapter(tmp_path / "stranger", tokenizer, 9, hidden_size=48))
    with pytest.raises(ValueError, match="was trained for"):
        engine_of(service, [cast[0], foreign], tokenizer)
