"""Adapter switching, concurrent throughput and adapter memory of the multi-character service (part 6).

Usage: python benchmarks/service.py [--model smollm2-135m-instruct] [--characters 4] [--requests 16]
                                     [--tokens 16] [--repeats 50] [--resident 1 4 16]
                                     [--out benchmarks/results/service.json]

Every character is a LoRA adapter with the course's persona settings (r and alpha from course.yml, on
q/k/v/o) and small random non-zero B factors, so every character answers differently. The model runs in
float32 on the CPU.

1. Switch cost, the median of `--repeats` switches between the characters: PEFT's `set_adapter` (it walks
   every module of the model), the course engine's `activate` (autograder/tools/chat.py) (it sets the active adapter of the LoRA
   layers only), `load_adapter` from disk, and reloading the whole model (`load_model` from the cached
   folder, its weights read once, plus `PeftModel.from_pretrained`).
2. Throughput: `--requests` requests spread over the characters arrive together from as many threads:
   (a) lock    one request at a time under a lock: `set_adapter` + `generate` (part 6's lean reference,
               solutions/lora/lora_lab/service.py: the design a student writes);
   (b) batched the course's engine: requests that arrive together share one `generate`, each row with its
               own adapter (PEFT's `adapter_names`);
   (c) merged  one at a time, the adapter merged into the weights, unmerged and the next one merged on each
               switch of character.
   Reported: wall time, requests/s, generated tokens/s, median and worst latency (from the common start),
   and how many replies equal (a)'s (greedy decoding: all should).
3. Memory: resident memory after loading 1, 4 and 16 adapters into one PeftModel (RSS grows by less than
   an adapter's tensors, because the allocator reuses the buffers each load frees), and the bytes of one
   adapter's tensors, against the adapter's size on disk.

Targets (part 6 issue): a switch (`activate`) under 1 ms; (b) at least 2x the throughput of (a) with the
same replies; each extra adapter costs at most 1.5x its size on disk in RSS, and its tensors hold about
its size on disk (within 1.5x). A missed target is printed as FAIL; the exit code stays 0: this measures,
it does not test.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import torch

from autograder.parts import load_course
from autograder.engine.reference import Reference
from autograder.tools import chat
from autograder.core.models import load_model
from common import RESULTS, current_rss, page_in, write_results

ROOT = Path(__file__).resolve().parent.parent
LOCK_ENGINE = ROOT / "solutions" / "lora" / "lora_lab" / "service.py"   # the lean reference: a lock
NAMES = ["Holmes", "Alice", "Elizabeth", "Juliet", "Darcy", "Watson", "Hatter", "Romeo"]
QUESTIONS = ["Who are you?", "What do you make of the weather today?", "Tell me about your family.",
             "What is the last thing you read?"]
B_STD = 0.02   # the random B factors: large enough that characters differ, small enough to stay fluent
MB = 1e6


def make_adapters(model: Any, folder: Path, count: int, r: int, alpha: float) -> list[Path]:
    """Save ``count`` random LoRA adapters of ``model`` (which is left unchanged) under ``folder``."""
    from peft import LoraConfig, get_peft_model

    paths = []
    for number in range(count):
        torch.manual_seed(1000 + number)
        config = LoraConfig(r=r, lora_alpha=alpha, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"])
        peft_model = get_peft_model(model, config)
        with torch.no_grad():
            for name, parameter in peft_model.named_parameters():
                if "lora_B" in name:
                    parameter.normal_(0.0, B_STD)
        paths.append(folder / f"adapter{number}")
        peft_model.save_pretrained(paths[-1])
        model = peft_model.unload()
    return paths


def median_ms(action: Callable[[int], Any], repeats: int) -> float:
    times = []
    for number in range(repeats):
        started = time.perf_counter()
        action(number)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def memory(spec: str | None, paths: list[Path], counts: Sequence[int]) -> dict:
    """Resident memory with 1, 4, 16... adapters loaded into one PeftModel (measured first, in this process)."""
    from peft import PeftModel

    model, _, _ = load_model(spec)
    page_in(model)
    rows = {"base_rss_bytes": current_rss(), "adapter_file_bytes":
            (paths[0] / "adapter_model.safetensors").stat().st_size, "rss_bytes": {}}
    peft_model = None
    for number, path in enumerate(paths[:max(counts)]):
        if peft_model is None:
            peft_model = PeftModel.from_pretrained(model, str(path), adapter_name="a0")
        else:
            peft_model.load_adapter(str(path), adapter_name=f"a{number}")
        if number + 1 in counts:
            page_in(peft_model)   # read every factor, in case the adapter's file is memory-mapped
            rows["rss_bytes"][number + 1] = current_rss()
    low, high = min(counts), max(counts)
    rows["per_extra_adapter_bytes"] = (rows["rss_bytes"][high] - rows["rss_bytes"][low]) / (high - low)
    rows["tensor_bytes_per_adapter"] = sum(parameter.numel() * parameter.element_size()
                                           for name, parameter in peft_model.named_parameters()
                                           if ".a0." in name and "lora_" in name)
    del peft_model, model
    return rows


def switch_costs(spec: str | None, engine: Any, paths: list[Path], repeats: int) -> dict:
    adapters = list(engine._core.adapter.values())
    model = engine.model
    costs = {"set_adapter_ms": median_ms(lambda n: model.set_adapter(adapters[n % len(adapters)]), repeats)}
    engine._core.active = None   # set_adapter changed the active adapter behind the engine's back
    costs["activate_ms"] = median_ms(lambda n: engine._core.activate(adapters[n % len(adapters)]), repeats)
    engine._core.active = None

    def load_from_disk(number: int) -> None:
        model.load_adapter(str(paths[0]), adapter_name="from_disk")
        model.delete_adapter("from_disk")
    costs["load_adapter_ms"] = median_ms(load_from_disk, max(3, repeats // 10))

    def reload_everything(number: int) -> None:
        from peft import PeftModel

        base, _, _ = load_model(spec)
        page_in(base)
        PeftModel.from_pretrained(base, str(paths[0]))
    costs["reload_model_ms"] = median_ms(reload_everything, 3)
    engine._core.find_lora_layers()
    return costs


def run_together(reply: Callable[[str, list[dict]], str], requests: list[tuple[str, list[dict]]]) -> dict:
    """All ``requests`` from as many threads, released together; latencies count from that moment."""
    start = threading.Barrier(len(requests) + 1)
    latencies = [0.0] * len(requests)
    replies = [""] * len(requests)
    released = [0.0]

    def ask(index: int) -> None:
        start.wait()
        replies[index] = reply(*requests[index])
        latencies[index] = time.perf_counter() - released[0]

    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        futures = [pool.submit(ask, index) for index in range(len(requests))]
        released[0] = time.perf_counter()
        start.wait()
        for future in futures:
            future.result()
    wall = time.perf_counter() - released[0]
    return {"wall_seconds": wall, "latency_median_seconds": statistics.median(latencies),
            "latency_max_seconds": max(latencies), "replies": replies}


def merged_replier(engine: Any, tokens: int) -> Callable[[str, list[dict]], str]:
    """(c): one request at a time, the character's adapter merged into the weights, re-merged on a switch."""
    lock, state = threading.Lock(), {"merged": None}
    model, tokenizer = engine.model, engine.tokenizer

    def reply(name: str, messages: list[dict]) -> str:
        conversation = [{"role": "system", "content": engine.character(name).system_prompt}, *messages]
        ids = torch.tensor([list(tokenizer.apply_chat_template(conversation, add_generation_prompt=True,
                                                               tokenize=True, return_dict=False))])
        with lock, torch.inference_mode():
            if state["merged"] != name:
                if state["merged"] is not None:
                    model.unmerge_adapter()
                model.set_adapter(name)
                model.merge_adapter()
                state["merged"] = name
            output = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False,
                                    max_new_tokens=tokens, eos_token_id=tokenizer.eos_token_id,
                                    pad_token_id=tokenizer.pad_token_id)
        return tokenizer.decode(output[0, ids.shape[1]:], skip_special_tokens=True).strip()

    return reply


def lock_engine_module() -> Any:
    spec = importlib.util.spec_from_file_location("service_reference", LOCK_ENGINE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def throughput(spec: str | None, reference_engine: Any, paths: list[Path], names: list[str],
               requests: int, tokens: int) -> dict:
    work = [(names[number % len(names)], [{"role": "user", "content": QUESTIONS[number % len(QUESTIONS)]}])
            for number in range(requests)]
    lock_module = lock_engine_module()
    base, tokenizer, _ = load_model(spec)
    cast = [lock_module.Character(name=name, adapter_path=str(path), system_prompt=f"You are {name}.")
            for name, path in zip(names, paths)]
    lock_engine = lock_module.ChatEngine(base, tokenizer, cast)
    modes = {
        "lock": lambda name, messages: lock_engine.reply(name, messages, max_new_tokens=tokens),
        "batched": lambda name, messages: reference_engine.reply(name, messages, max_new_tokens=tokens),
        "merged": merged_replier(lock_engine, tokens),
    }
    rows = {}
    for mode, reply in modes.items():   # merged last: it leaves an adapter merged into the shared weights
        reply(*work[0])                 # warm-up, so that no mode pays for first-call costs
        row = run_together(reply, work)
        new_tokens = sum(len(tokenizer(text, add_special_tokens=False)["input_ids"]) for text in row["replies"])
        row.update(requests_per_second=requests / row["wall_seconds"],
                   tokens_per_second=new_tokens / row["wall_seconds"])
        rows[mode] = row
        print(f"  {mode:<8} {row['wall_seconds']:8.2f} s", flush=True)
    for row in rows.values():
        row["same_replies_as_lock"] = sum(a == b for a, b in zip(row["replies"], rows["lock"]["replies"]))
    rows["batches_of_reference"] = reference_engine.metrics()["batches"]
    return rows


def report(results: dict, requests: int) -> None:
    switch, modes, mem = results["switch"], results["throughput"], results["memory"]
    print("\nswitch cost (median)")
    for key, label in (("activate_ms", "course engine activate (LoRA layers only)"), ("set_adapter_ms", "PEFT set_adapter"),
                       ("load_adapter_ms", "load_adapter from disk"), ("reload_model_ms", "reload the whole model")):
        print(f"  {label:<40} {switch[key]:>10.3f} ms")
    print(f"\n{requests} concurrent requests, {results['settings']['characters']} characters, "
          f"{results['settings']['tokens']} new tokens")
    print(f"  {'mode':<8} {'wall s':>8} {'req/s':>7} {'tok/s':>7} {'p50 s':>7} {'max s':>7} {'same as lock':>13}")
    for mode in ("lock", "batched", "merged"):
        row = modes[mode]
        print(f"  {mode:<8} {row['wall_seconds']:>8.2f} {row['requests_per_second']:>7.2f} "
              f"{row['tokens_per_second']:>7.1f} {row['latency_median_seconds']:>7.2f} "
              f"{row['latency_max_seconds']:>7.2f} {row['same_replies_as_lock']:>8}/{requests}")
    print("\nmemory (RSS)")
    print(f"  base model {mem['base_rss_bytes'] / MB:.0f} MB; adapter on disk {mem['adapter_file_bytes'] / MB:.2f} MB")
    for count, rss in mem["rss_bytes"].items():
        print(f"  {count:>3} adapters {rss / MB:>8.0f} MB")
    print(f"  per extra adapter {mem['per_extra_adapter_bytes'] / MB:.2f} MB of RSS; its tensors hold "
          f"{mem['tensor_bytes_per_adapter'] / MB:.2f} MB (the allocator reuses what each load frees)")
    speedup = modes["batched"]["requests_per_second"] / modes["lock"]["requests_per_second"]
    targets = [("switch (activate) < 1 ms", switch["activate_ms"], switch["activate_ms"] < 1.0),
               ("batched / lock throughput >= 2x", speedup, speedup >= 2.0),
               ("batched replies identical to lock", modes["batched"]["same_replies_as_lock"],
                modes["batched"]["same_replies_as_lock"] == requests),
               ("memory per extra adapter (RSS) / size on disk <= 1.5",
                mem["per_extra_adapter_bytes"] / mem["adapter_file_bytes"],
                mem["per_extra_adapter_bytes"] <= 1.5 * mem["adapter_file_bytes"]),
               ("adapter tensors / size on disk within 1.5x", mem["tensor_bytes_per_adapter"] / mem["adapter_file_bytes"],
                1 / 1.5 <= mem["tensor_bytes_per_adapter"] / mem["adapter_file_bytes"] <= 1.5)]
    print("\ntargets")
    for label, value, ok in targets:
        print(f"  {'PASS' if ok else 'FAIL'}  {label}: {value:.3f}" if isinstance(value, float)
              else f"  {'PASS' if ok else 'FAIL'}  {label}: {value}")
    results["targets"] = {label: {"value": value, "met": ok} for label, value, ok in targets}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="base model (default: the course's SmolLM2-135M-Instruct)")
    parser.add_argument("--characters", type=int, default=4)
    parser.add_argument("--requests", type=int, default=16)
    parser.add_argument("--tokens", type=int, default=16, help="new tokens per reply")
    parser.add_argument("--repeats", type=int, default=50, help="switches timed per switch method")
    parser.add_argument("--resident", type=int, nargs="+", default=[1, 4, 16],
                        help="adapter counts whose memory is measured")
    parser.add_argument("--out", default=str(RESULTS / "service.json"))
    args = parser.parse_args(argv)
    if not 1 <= args.characters <= len(NAMES) or args.requests < 1 or args.tokens < 1:
        parser.error(f"--characters must be 1..{len(NAMES)}; --requests and --tokens at least 1")

    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    course = load_course(ROOT / "course.yml")
    training = course.persona.training
    assignment = course.assignment()
    reference = Reference(assignment.solution, assignment.package).module("service")
    service = chat   # the course's own service: batching, streaming, metrics
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as folder:
        model, tokenizer, source = load_model(args.model)
        paths = make_adapters(model, Path(folder), max(args.characters, max(args.resident)), int(training["r"]),
                              training["alpha"])
        del model
        print(f"model {source}; {len(paths)} adapters of r={training['r']}", flush=True)
        results: dict[str, Any] = {"settings": {"model": source, "characters": args.characters,
                                                "requests": args.requests, "tokens": args.tokens,
                                                "r": training["r"], "alpha": training["alpha"]}}
        results["memory"] = memory(args.model, paths, sorted(set(args.resident)))
        names = NAMES[:args.characters]
        base, tokenizer, _ = load_model(args.model)
        cast = [service.Character(name=name, adapter_path=str(path), system_prompt=f"You are {name}.")
                for name, path in zip(names, paths)]
        engine = service.ChatEngine(base, tokenizer, cast, service=reference, max_batch=args.requests)
        results["switch"] = switch_costs(args.model, engine, paths, args.repeats)
        print("throughput:", flush=True)
        results["throughput"] = throughput(args.model, engine, paths, names, args.requests, args.tokens)
    report(results, args.requests)
    write_results(args.out, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
