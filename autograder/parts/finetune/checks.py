"""Hidden checks of part ``finetune``: the persona data pipeline (``persona.py``) and PEFT training
(``finetune.py``).

The extraction checks grade against the answer key of seeded synthetic passages (``passages``), not
against the reference, and give partial credit by the share of lines right. The training checks run on a
tiny random Llama built from a seed on both sides; only what must be exact (token ids, labels, parameter
counts, perplexity) is compared with the reference.
"""

from __future__ import annotations

import math
import random

import torch

from . import passages
from ...core.model import Check, Claim, Fail, ProbeCall, Verdict, register
from ..compare import expect_number, expect_raises, expect_tensor, field, fmt_value, reference_value, result_of
from ...runtime import common
from . import probes

BODY_WORDS = ("the", "moor", "was", "silent", "and", "a", "lamp", "burned", "in", "window", "of", "old", "hall",
              "where", "nobody", "had", "lived", "for", "years", "yet", "smoke", "rose", "from", "chimney")
QUOTES_LINES = ("You see, but you do not observe.", "The game is afoot.", "I am lost without my Boswell.",
                "There is nothing like first-hand evidence.", "My mind rebels at stagnation.",
                "It is a capital mistake to theorise before one has data.", "Come at once if convenient.")


def _persona(function: str, *args, **kwargs) -> ProbeCall:
    return ProbeCall(common.call, {"function": function, "args": list(args), "kwargs": kwargs}, module="persona")


def _body(rng: random.Random) -> str:
    paragraphs = []
    for _ in range(rng.randint(3, 5)):
        words = [rng.choice(BODY_WORDS) for _ in range(rng.randint(20, 40))]
        paragraphs.append(" ".join(words).capitalize() + ".")
    return "CHAPTER I.\n\n" + "\n\n".join(paragraphs)


def _gutenberg(body: str, title: str, style: str) -> str:
    if style == "modern":
        return (f"The Project Gutenberg eBook of {title}\n\nThis ebook is for the use of anyone anywhere in the "
                f"United States and\nmost other parts of the world at no cost.\n\nTitle: {title}\n\nLanguage: English\n\n"
                f"*** START OF THE PROJECT GUTENBERG EBOOK {title.upper()} ***\n\n\n{body}\n\n\n"
                f"*** END OF THE PROJECT GUTENBERG EBOOK {title.upper()} ***\n\nUpdated editions will replace the "
                f"previous one.\n\nSTART: FULL LICENSE\n\nTHE FULL PROJECT GUTENBERG LICENSE\n")
    if style == "older":
        return (f"The Project Gutenberg EBook of {title}, by A. Writer\n\nThis eBook is for the use of anyone\n\n"
                f"*** START OF THIS PROJECT GUTENBERG EBOOK {title.upper()} ***\n\n\n\n\n"
                f"{body}\n\n\n\nEnd of the Project Gutenberg EBook of {title}, by A. Writer\n\n"
                f"*** END OF THIS PROJECT GUTENBERG EBOOK {title.upper()} ***\n\n***** This file should be named 1.txt\n")
    return (f"**The Project Gutenberg Etext of {title}**\n\n*END*THE SMALL PRINT! FOR PUBLIC DOMAIN ETEXTS*Ver.04.29.93*END*\n\n"
            f"{body}\n\nEnd of Project Gutenberg's {title}, by A. Writer\n")


@register
class StripGutenberg(Check):
    id = "strip_gutenberg"
    title = "strip_gutenberg removes the header, footer and license of every edition style and keeps clean text"

    STYLES = ("modern", "older", "small print", "modern (Windows line endings)", "already clean")

    def plan(self, rng):
        calls = []
        for style in self.STYLES:
            body = _body(rng)
            if style == "already clean":
                text = body + "\n"
            else:
                text = _gutenberg(body, rng.choice(("The Silent Moor", "A Lamp in the Window")), style.split(" (")[0])
            if "Windows" in style:
                text = text.replace("\n", "\r\n")
            calls.append(ProbeCall(common.call, {"function": "strip_gutenberg", "args": [text]}, module="persona",
                                   context={"body": body}))
        return calls

    def judge(self, calls, got, want):
        for style, call, outcome in zip(self.STYLES, calls, got):
            what = f"strip_gutenberg on a book with the {style} header and footer" if style != "already clean" else \
                "strip_gutenberg on text that has no Project Gutenberg header"
            text = field(result_of(outcome, what), "result", what)
            if not isinstance(text, str):
                raise Fail(f"{what}: expected a str, got {fmt_value(text)}")
            if "\r" in text:
                raise Fail(f"{what}: the result still contains '\\r'; normalise line endings to '\\n'")
            body, original = call.context["body"], call.args["args"][0]
            if style == "already clean":
                if text != original:
                    raise Fail(f"{what}: clean text must come back unchanged, but it changed "
                               f"(length {len(original)} -> {len(text)})")
                continue
            if text.strip() == body:
                continue
            for marker in ("START OF", "SMALL PRINT", "END OF", "End of", "LICENSE", "Title:"):
                if marker in text and marker not in body:
                    raise Fail(f"{what}: the result still contains {marker!r}; everything up to the start marker's "
                               f"line and from the first footer line on must go")
            raise Fail(f"{what}: expected exactly the book's text between the markers; yours starts with "
                       f"{text.strip()[:60]!r} and ends with {text.strip()[-60:]!r}")


def _common(got: list[str], want: list[str]) -> int:
    """How many lines ``got`` and ``want`` share in the same order (their longest common subsequence)."""
    row = [0] * (len(want) + 1)
    for line in got:
        previous = 0
        for index, wanted in enumerate(want, start=1):
            previous, row[index] = row[index], previous + 1 if line == wanted else max(row[index], row[index - 1])
    return row[-1]


def _score_lines(got: list, passage: passages.Passage, what: str) -> tuple[float, float, float, str]:
    """Precision, recall and the share of lines right (lines in common, in order, over the lines in either
    list) of ``got`` against the passage's answer key, and an example of each kind of error."""
    if not isinstance(got, list) or not all(isinstance(line, str) for line in got):
        raise Fail(f"{what}: expected a list of str, got {fmt_value(got)}")
    want = passage.lines
    common = _common(got, want)
    precision = common / len(got) if got else (1.0 if not want else 0.0)
    recall = common / len(want) if want else 1.0
    right = common / (len(got) + len(want) - common) if got or want else 1.0
    notes = []
    missed = [turn for turn in passage.turns if turn.speaker == passage.character and turn.words not in got]
    if missed:
        notes.append(f"missed ({missed[0].form}): {missed[0].words!r}")
    wrong = [line for line in got if line not in want]
    if wrong:
        turn = next((turn for turn in passage.turns if turn.words == wrong[0]), None)
        why = f"said by {turn.speaker or 'nobody named'}, {turn.form}" if turn else "not a line of the passage as written"
        notes.append(f"wrongly included ({why}): {wrong[0]!r}")
    if not notes and got != want:
        notes.append("the right lines, but repeated or not in the order of the text")
    return precision, recall, right, "; ".join(notes)


class ExtractCheck(Check):
    """Extraction on hidden passages. The score is the share of lines right, averaged over the passages:
    lines in common with the answer key, in order, over the lines in either list (so a missed line and a
    wrongly included one each cost one line's share, never the whole check)."""

    def judge(self, calls, got, want):
        shares, problems = [], []
        for call, outcome in zip(calls, got):
            passage = passages.Passage(call.args["args"][0], call.args["args"][1], tuple(call.args["args"][2]),
                                       call.context["turns"])
            what = f"extract_lines(passage, {passage.character!r}, aliases={list(passage.aliases)}) on a {call.context['kind']}"
            value = field(result_of(outcome, what), "result", what)
            precision, recall, right, note = _score_lines(value, passage, what)
            shares.append(right)
            if note:
                problems.append(f"{what}: {right:.0%} of the lines right (precision {precision:.2f}, recall "
                                f"{recall:.2f}, {len(passage.lines)} lines expected); {note}")
        if not problems:
            return None
        return Verdict(math.floor(100 * sum(shares) / len(shares)) / 100, "\n".join(problems[:3]))


def _extract_call(passage: passages.Passage, kind: str) -> ProbeCall:
    return ProbeCall(common.call, {"function": "extract_lines", "args": [passage.text, passage.character, list(passage.aliases)]},
                     module="persona", context={"turns": passage.turns, "kind": kind})


@register
class ExtractNovel(ExtractCheck):
    id = "extract_novel"
    title = "extract_lines on novels: attributions either side of a quote, pronouns, split and continued speeches"

    def plan(self, rng):
        return [_extract_call(passages.novel(rng), "novel passage with curly quotes"),
                _extract_call(passages.novel(rng, straight=True), "novel passage with straight quotes")]


@register
class ExtractPlay(ExtractCheck):
    id = "extract_play"
    title = "extract_lines on plays: speaker tags, speeches on the tag's line, stage directions removed"

    def plan(self, rng):
        return [_extract_call(passages.play(rng), "play")]


def _pairing(lines: list[str], turns: tuple[passages.Turn, ...], neutral: str) -> list[str | None]:
    """The user message each of ``lines`` (the character's lines as an extractor found them) must get: the
    turn just before it unless that turn is the extractor's previous line, else ``neutral``; ``None`` for a
    line that is no turn of the passage."""
    prompts, matched, cursor = [], None, 0
    for line in lines:
        index = next((k for k in range(cursor, len(turns)) if turns[k].words == line), None)
        if index is None:
            prompts.append(None)
            matched = None
            continue
        previous_is_mine = index == 0 or matched == index - 1
        prompts.append(neutral if previous_is_mine else turns[index - 1].words)
        matched, cursor = index, index + 1
    return prompts


@register
class Examples(Check):
    """build_examples is judged on the lines the student's own extract_lines finds in the same passage (when
    at least half of them are right; else on the answer key): an extraction difference costs points in the
    extraction checks only, and here only how the lines are paired counts."""

    id = "examples"
    title = "build_examples: system, user (the line before, or the neutral prompt) and assistant turns"

    def plan(self, rng):
        passage = passages.examples_novel(rng)
        system = f"You are {passage.character}. Speak as {passage.character} speaks."
        context = {"turns": passage.turns}
        return [_persona("build_examples", passage.text, passage.character, list(passage.aliases), system),
                _persona("build_examples", passage.text, passage.character, list(passage.aliases)),
                ProbeCall(common.call, {"function": "extract_lines", "args": [passage.text, passage.character,
                                                                          list(passage.aliases)]},
                          module="persona", context=context)]

    def judge(self, calls, got, want):
        turns = calls[-1].context["turns"]
        key = [turn.words for turn in turns if turn.speaker == calls[0].args["args"][1]]
        lines = got[-1].value.get("result") if got[-1].ok and isinstance(got[-1].value, dict) else None
        own = isinstance(lines, list) and all(isinstance(line, str) for line in lines) and \
            2 * _common(lines, key) >= len(lines) + len(key) - _common(lines, key)
        lines = lines if own else key
        reference = reference_value(want[0], "the reference's build_examples")["result"]
        neutral = next(example["messages"][1]["content"] for example, prompt in
                       zip(reference, _pairing(key, turns, "")) if prompt == "")
        default_system = reference_value(want[1], "the reference's build_examples")["result"][0]["messages"][0]["content"]
        prompts = _pairing(lines, turns, neutral)
        whose = "the lines your extract_lines finds" if own else "the character's lines"
        for index, (call, outcome) in enumerate(zip(calls[:2], got[:2])):
            system = call.args["args"][3] if index == 0 else default_system
            what = (f"build_examples(passage, {call.args['args'][1]!r}, ...) with "
                    f"{'a given system prompt' if index == 0 else 'the default system prompt'}")
            value = field(result_of(outcome, what), "result", what)
            if not isinstance(value, list) or not all(isinstance(e, dict) and isinstance(e.get("messages"), list)
                                                      for e in value):
                raise Fail(f"{what}: expected a list of {{'messages': [...]}} dicts, got {fmt_value(value)}")
            if len(value) != len(lines):
                raise Fail(f"{what}: expected {len(lines)} examples, one per line of the character ({whose}), "
                           f"got {len(value)}")
            for number, (example, line, prompt) in enumerate(zip(value, lines, prompts)):
                messages = example["messages"]
                roles = [m.get("role") if isinstance(m, dict) else None for m in messages]
                if roles != ["system", "user", "assistant"]:
                    raise Fail(f"{what}: example {number} has roles {roles}, expected ['system', 'user', 'assistant']")
                wanted = {"system": (system, "the system prompt (given, or default_system_prompt(character))"),
                          "user": (prompt, "the utterance just before the line, when someone else said it (another "
                                           "speaker, or speech with no known speaker); else NEUTRAL_PROMPT"),
                          "assistant": (line, f"the character's line ({whose}, in order)")}
                for message in messages:
                    content, hint = wanted[message["role"]]
                    if content is not None and message.get("content") != content:
                        raise Fail(f"{what}: example {number}, the {message['role']} message should be {hint}: "
                                   f"expected {content!r}, got {message.get('content')!r}")


def _chat(rng: random.Random, reply: str) -> dict:
    return {"messages": [{"role": "system", "content": "You are Holmes."},
                         {"role": "user", "content": rng.choice(QUOTES_LINES)},
                         {"role": "assistant", "content": reply}]}


def _prompt_tokens(example: dict) -> int:
    """Tokens of an example's prompt under the byte-level ChatML tokenizer: one per byte, one per marker."""
    messages = example["messages"][:-1]
    text = "".join(f"{message['role']}\n{message['content']}\n" for message in messages) + "assistant\n"
    return len(text.encode()) + 2 * len(messages) + 1


@register
class Labels(Check):
    id = "labels"
    title = "tokenize_examples: the chat template, labels -100 on the prompt and the ids on the reply, truncation"

    def plan(self, rng):
        examples = [_chat(rng, rng.choice(QUOTES_LINES)) for _ in range(3)]
        long_prompt = _chat(rng, "Quite so.")
        long_prompt["messages"][1]["content"] = " ".join(QUOTES_LINES)
        # Cut 4 tokens into the reply of the example with the shortest prompt: its row is truncated, and the
        # long-prompt example (and any other prompt that long) has no reply token left and is dropped.
        short = min(_prompt_tokens(example) for example in examples) + 4
        bad = _chat(rng, "Indeed.")
        bad["messages"] = bad["messages"][:2]
        return [ProbeCall(probes.tokenize, {"examples": examples, "max_length": 512}),
                ProbeCall(probes.tokenize, {"examples": [*examples, long_prompt], "max_length": short}),
                ProbeCall(probes.tokenize, {"examples": [bad], "max_length": 512}),
                ProbeCall(probes.tokenize, {"examples": examples, "max_length": 0})]

    def judge(self, calls, got, want):
        for call, outcome, reference in zip(calls[:2], got[:2], want[:2]):
            what = f"tokenize_examples({len(call.args['examples'])} examples, tokenizer, max_length={call.args['max_length']})"
            value = result_of(outcome, what)
            expected = reference_value(reference, what)
            if not field(value, "type", what).startswith("datasets."):
                raise Fail(f"{what}: expected a datasets.Dataset, got {value['type']}")
            missing = [name for name in ("input_ids", "attention_mask", "labels") if name not in value["columns"]]
            if missing:
                raise Fail(f"{what}: the dataset has no column {missing[0]!r} (it has {value['columns']})")
            rows, wanted = field(value, "rows", what), expected["rows"]
            if not isinstance(rows, dict) or any(not isinstance(rows.get(name), list) for name in wanted):
                raise Fail(f"{what}: the grader could not read the dataset's columns (the result was not of the "
                           f"expected form)")
            if len(rows["input_ids"]) != len(wanted["input_ids"]):
                raise Fail(f"{what}: expected {len(wanted['input_ids'])} row(s), got {len(rows['input_ids'])} (an example "
                           f"with no reply token left after truncation is dropped; no other is)")
            uneven = [name for name in wanted if len(rows[name]) != len(wanted[name])]
            if uneven:   # every column is judged row by row: none may be shorter than the others
                raise Fail(f"{what}: the column {uneven[0]!r} has {len(rows[uneven[0]])} row(s), but the dataset has "
                           f"{len(wanted['input_ids'])}; every column holds one row per example")
            for name in ("input_ids", "labels", "attention_mask"):
                for number, (row, wanted_row) in enumerate(zip(rows[name], wanted[name])):
                    if row == wanted_row:
                        continue
                    if len(row) != len(wanted_row):
                        raise Fail(f"{what}: row {number} {name} has {len(row)} tokens, expected {len(wanted_row)} "
                                   f"(the whole conversation from apply_chat_template, cut to max_length)")
                    position = next(i for i, (a, b) in enumerate(zip(row, wanted_row)) if a != b)
                    hint = ""
                    if name == "labels":
                        prompt = wanted_row.count(-100)
                        hint = (f"; the first {prompt} tokens are the prompt (system, user and the generation prompt "
                                f"'<|im_start|>assistant\\n') and must be -100, every token after them keeps its id")
                    raise Fail(f"{what}: row {number} {name}[{position}] is {row[position]}, expected "
                               f"{wanted_row[position]}{hint}")
        expect_raises(got[2], "ValueError", "tokenize_examples on an example whose last message is the user's")
        expect_raises(got[3], "ValueError", "tokenize_examples with max_length=0")


@register
class LoraConfigCheck(Check):
    id = "lora_config"
    title = "make_lora_config: rank, alpha, dropout, target modules, causal-LM task; ValueError for bad values"

    def plan(self, rng):
        custom = {"r": rng.choice([4, 16]), "alpha": float(rng.choice([8, 32])), "dropout": 0.1,
                  "target_modules": ["q_proj", "v_proj"]}
        return [ProbeCall(probes.lora_config, {"kwargs": {}}, module="finetune"),
                ProbeCall(probes.lora_config, {"kwargs": custom}, module="finetune"),
                ProbeCall(probes.lora_config, {"kwargs": {"r": 0}}, module="finetune"),
                ProbeCall(probes.lora_config, {"kwargs": {"dropout": 1.0}}, module="finetune")]

    def judge(self, calls, got, want):
        for call, outcome, reference in zip(calls[:2], got[:2], want[:2]):
            what = f"make_lora_config({', '.join(f'{k}={v!r}' for k, v in call.args['kwargs'].items())})"
            value = result_of(outcome, what)
            expected = reference_value(reference, what)
            for key in ("type", "r", "lora_alpha", "lora_dropout", "target_modules", "task_type", "bias"):
                if field(value, key, what) != expected[key]:
                    raise Fail(f"{what}: {key} is {value[key]!r}, expected {expected[key]!r}")
        expect_raises(got[2], "ValueError", "make_lora_config(r=0)")
        expect_raises(got[3], "ValueError", "make_lora_config(dropout=1.0)")


def _training_args(rng: random.Random, steps: int) -> dict:
    texts = [f"{rng.choice(('Holmes', 'Watson'))}: {line}" for line in rng.sample(QUOTES_LINES, 6)]
    return {"model_seed": rng.randint(0, 10_000), "texts": texts, "steps": steps, "lr": 0.01, "batch_size": 4,
            "seed": rng.randint(0, 10_000), "r": rng.choice([4, 8]), "alpha": 16.0,
            "targets": rng.choice([["q_proj", "k_proj", "v_proj", "o_proj"], ["q_proj", "v_proj"]])}


def _describe_training(args: dict) -> str:
    return (f"train_adapter(tiny Llama, steps={args['steps']}, lr={args['lr']}, batch_size={args['batch_size']}, "
            f"seed={args['seed']}) with LoRA r={args['r']} on {', '.join(args['targets'])}")


def _with_adapter(model, config, adapter: object, what: str):
    """The grader's own ``model`` wrapped with ``config`` and holding the exported LoRA tensors ``adapter``;
    Fail unless they are plain finite tensors of exactly the names and shapes the config makes."""
    from peft import get_peft_model

    wrapped = get_peft_model(model, config)
    expected = {name: tensor for name, tensor in wrapped.state_dict().items() if "lora_" in name}
    if not isinstance(adapter, dict) or set(adapter) != set(expected):
        names = sorted(adapter)[:2] if isinstance(adapter, dict) else adapter
        raise Fail(f"{what}: TrainingResult.model should be the PeftModel that get_peft_model(model, config) made and "
                   f"trained; its LoRA tensors are not the ones that config makes ({fmt_value(names)} ...)")
    for name, tensor in expected.items():
        given = adapter[name]
        if type(given) is not torch.Tensor or given.shape != tensor.shape or not bool(torch.isfinite(given).all()):
            raise Fail(f"{what}: the trained adapter's {name} is not a finite tensor of shape {list(tensor.shape)}")
    wrapped.load_state_dict({name: tensor.to(next(model.parameters()).dtype) for name, tensor in adapter.items()},
                            strict=False)
    return wrapped


def recomputed_loss(model, tokenizer, texts: list[str], config=None, adapter: object = None, what: str = "") -> float:
    """Mean cross-entropy of the labelled tokens of ``texts`` (the probes' data set), computed here in the
    grading process on the grader's own ``model``, with the exported ``adapter`` loaded when given."""
    from .probes import _dataset

    if adapter is not None:
        model = _with_adapter(model, config, adapter, what)
    model.eval()
    device = next(model.parameters()).device
    rows = _dataset(texts, tokenizer)
    total, count = 0.0, 0
    with torch.no_grad():
        for ids, labels in zip(rows["input_ids"], rows["labels"]):
            logits = model(input_ids=torch.tensor([ids], device=device)).logits[0, :-1].float()
            targets = torch.tensor(labels[1:], device=device)
            keep = targets != -100
            total += float(torch.nn.functional.cross_entropy(logits[keep], targets[keep], reduction="sum"))
            count += int(keep.sum())
    return total / count


def _tiny_loss(args: dict, adapter: object = None, what: str = "") -> float:
    from .probes import _config
    from ...runtime.tiny_models import byte_tokenizer, tiny_llama

    tokenizer = byte_tokenizer()
    return recomputed_loss(tiny_llama(args["model_seed"], vocab_size=len(tokenizer)), tokenizer, args["texts"],
                           _config(args["r"], args["alpha"], args["targets"]), adapter, what)


def real_model_losses(args: dict, adapter: object, reference: object, what: str) -> tuple[float, float, float]:
    """The GPU run's losses recomputed here on the grader's own copy of the model in ``args["model_folder"]``:
    with the student's adapter, without one, and with the reference's."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from .probes import gpu_config, gpu_texts

    device = "cuda" if torch.cuda.is_available() else "cpu"
    tokenizer = AutoTokenizer.from_pretrained(args["model_folder"])
    texts = gpu_texts(args["texts"], args["max_length"])

    def loss(exported: object = None) -> float:
        model = AutoModelForCausalLM.from_pretrained(args["model_folder"], dtype=torch.float32).to(device)
        return recomputed_loss(model, tokenizer, texts, gpu_config(), exported, what)

    return loss(adapter), loss(), loss(reference)


def expect_learned(mine: float, base: float, theirs: float, what: str) -> None:
    """The exported adapter must gain at least half of what the reference's gains over the base model."""
    if not mine <= base - 0.5 * (base - theirs):
        raise Fail(f"{what}: with the adapter that train_adapter returned, the loss on the training texts is {mine:.3f} "
                   f"(recomputed by the grader; the base model gives {base:.3f}, the reference's adapter after the same "
                   f"steps {theirs:.3f}): the adapter did not learn, whatever losses were reported; is the optimizer "
                   f"stepping on the adapter's parameters?")


# Facts the training probe reports about the student's objects (which parameters require grad, the base
# weights after training, the losses of every step, their repeatability, the speed): the worker can report
# anything there, so they are claims. A check raises :class:`Claim` for them only once its recomputed part
# passed: they cost at most ``CLAIM_POINTS`` of the check (``engine.judge``), so a lie gains no more.


def claimed(problem: str | None) -> None:
    """Raise :class:`Claim` for ``problem``, a failure seen only in what the run reports about itself."""
    if problem is not None:
        raise Claim(problem)


def _trainable_claims(value: dict, model_seed: int, what: str) -> str | None:
    """What the worker reports about the trained objects, against the grader's own seeded base model: the
    first problem, or ``None``."""
    others = value.get("requires_grad_other")
    if others:
        return (f"{what}: parameters outside the adapter are trainable ({fmt_value(others)}); only lora_A and "
                f"lora_B may require grad: wrap the model with get_peft_model and do not unfreeze the base")
    # the base weights after training, compared here with the grader's own copy of the base model
    from ...runtime.tiny_models import byte_tokenizer, tiny_llama

    after = value.get("base_after")
    base = dict(tiny_llama(model_seed, vocab_size=len(byte_tokenizer())).named_parameters())
    if not isinstance(after, dict) or set(after) != set(base):
        return f"{what}: the base model passed to train_adapter lost or gained parameters during training"
    changed = [name for name, parameter in base.items() if type(after[name]) is not torch.Tensor
               or after[name].shape != parameter.shape or not torch.equal(after[name], parameter.detach())]
    if changed:
        return f"{what}: the base model's weights changed during training ({changed[0]}, ...); only the adapter may train"
    return None


@register
class Trainable(Check):
    """The counts (compared with the reference's) and the number of LoRA values the trained model exports
    decide the check; whether the base stayed frozen and unchanged is what the worker reports (a claim)."""

    id = "trainable"
    title = "train_adapter trains only the LoRA factors, counts them right, and leaves the base weights unchanged"

    def plan(self, rng):
        return [ProbeCall(probes.train, _training_args(rng, steps=3), module="finetune")]

    def judge(self, calls, got, want):
        what = _describe_training(calls[0].args)
        value = result_of(got[0], what)
        expected = reference_value(want[0], what)
        if not isinstance(value, dict) or set(value) != set(expected):
            raise Fail(f"{what}: the result was not of the expected form")
        if value["model_type"] != expected["model_type"]:
            raise Fail(f"{what}: TrainingResult.model should be the {expected['model_type']} that was trained, "
                       f"got {value['model_type']}")
        expect_number(value["trainable_params"], expected["trainable_params"],
                      f"{what}: TrainingResult.trainable_params (the LoRA factors: r x (in + out) per adapted layer)",
                      kind=int)
        expect_number(value["total_params"], expected["total_params"],
                      f"{what}: TrainingResult.total_params (every parameter of the wrapped model)", kind=int)
        adapter = field(value, "adapter", what)
        exported = sum(t.numel() for t in adapter.values() if type(t) is torch.Tensor) if isinstance(adapter, dict) else 0
        expect_number(exported, expected["trainable_params"],
                      f"{what}: the LoRA factors of TrainingResult.model (counted by the grader)", kind=int)
        claimed(_trainable_claims(value, calls[0].args["model_seed"], what))


@register
class LossFalls(Check):
    id = "loss_falls"
    title = "a short seeded run records one loss per step, the loss falls, and the same seed gives the same losses"

    def plan(self, rng):
        args = _training_args(rng, steps=30)
        # One step on the whole data set: B starts at zero, so this loss is the base model's on the labelled
        # tokens, whatever the seed and the order of rows; it must equal the reference's.
        first = {**args, "steps": 1, "batch_size": len(args["texts"])}
        return [ProbeCall(probes.train, {**args, "repeat": True}, module="finetune"),
                ProbeCall(probes.train, first, module="finetune")]

    def judge(self, calls, got, want):
        args = calls[0].args
        what = _describe_training(args)
        value = result_of(got[0], what)
        # recomputed: the adapter the run exported must have learnt, by the grader's own loss ...
        expect_learned(_tiny_loss(args, field(value, "adapter", what), what), _tiny_loss(args),
                       _tiny_loss(args, reference_value(want[0], what)["adapter"], what), what)
        # ... and the first loss of a one-step run on the whole data set is the reference's (a value of the
        # student's loss computation, on the grader's inputs)
        first = calls[1].args
        described = (f"train_adapter(tiny Llama, steps=1, batch_size={first['batch_size']}) on the whole data set at "
                     f"once (with lora_B at zero the first loss is the base model's)")
        mine = field(result_of(got[1], described), "losses", described)
        theirs = reference_value(want[1], described)["losses"]
        if not isinstance(mine, list) or len(mine) != 1:
            raise Fail(f"{described}: expected one loss, got {fmt_value(mine)}")
        expect_number(mine[0], theirs[0], f"{described}: the loss should be the mean cross-entropy of each labelled "
                                          f"token predicted from the tokens before it (labels -100, padding included, "
                                          f"count for nothing)", rtol=1e-4)
        claimed(_reported_losses(value, args["steps"], what))


def _reported_losses(value: dict, steps: int, what: str) -> str | None:
    """What the run reports about its own losses (claims): one finite float per step, falling, the same
    again with the same seed, and a speed; the first problem, or ``None``."""
    losses = value.get("losses")
    if not isinstance(losses, list) or len(losses) != steps:
        return (f"{what}: TrainingResult.losses should be a list of Python floats, one per step ({steps}; append "
                f"loss.item()), got {value.get('losses_kind')}")
    if not all(isinstance(loss, float) and math.isfinite(loss) for loss in losses):
        return f"{what}: a loss is NaN or infinite: {fmt_value(losses)}"
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    if not last <= 0.85 * first:
        return (f"{what}: the mean loss of the last 5 steps ({last:.3f}) should be at most 0.85 x that of the first 5 "
                f"({first:.3f}); is the optimizer stepping on the adapter's parameters, and the loss computed on the "
                f"labels?")
    repeat = value.get("repeat_losses")
    if not isinstance(repeat, list) or len(repeat) != len(losses) \
            or not all(isinstance(loss, float) for loss in repeat):
        return f"{what}: a second run with the same seed returned {fmt_value(repeat)}; seed every random choice"
    differ = [i for i, (a, b) in enumerate(zip(repeat, losses)) if not abs(a - b) <= 1e-5 * max(1.0, abs(b))]
    if differ:
        step = differ[0]
        return (f"{what}: a second run with the same seed gave different losses (step {step + 1} gave "
                f"{losses[step]:.5f} the first time and {repeat[step]:.5f} the second); seed every random choice "
                f"(torch.manual_seed, the data order)")
    tokens = value.get("tokens_per_second")
    if isinstance(tokens, bool) or not isinstance(tokens, (int, float)) or not tokens > 0:
        return f"{what}: TrainingResult.tokens_per_second should be a positive number, got {fmt_value(tokens)}"
    return None


def _saved_logits(args: dict, saved: dict, what: str) -> torch.Tensor:
    """The logits on ``args["probe_ids"]`` of the grader's own copy of the tiny model with the adapter
    ``saved`` (what the probe read back from the folder ``save_adapter`` wrote: the config's fields and the
    adapter file's tensors) loaded by the grading process itself; Fail unless the folder holds exactly the
    stated adapter."""
    from peft import get_peft_model_state_dict, set_peft_model_state_dict

    files = saved.get("files")
    if not isinstance(files, dict):
        raise Fail(f"{what}: the result was not of the expected form")
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        if name not in files:
            raise Fail(f"{what}: the folder has no {name} (it holds {fmt_value(sorted(map(str, files)))}); use the "
                       f"PeftModel's save_pretrained")
    tensors, config = saved.get("tensors"), saved.get("config")
    if not isinstance(tensors, dict) or not isinstance(config, dict):
        raise Fail(f"{what}: adapter_config.json or adapter_model.safetensors could not be read")
    strays = [str(key) for key in tensors if "lora_" not in str(key)]
    if strays:
        raise Fail(f"{what}: the adapter file holds base-model weights too ({strays[0][:100]!r}, ...); an adapter is "
                   f"only the LoRA factors, a few hundred kilobytes instead of the whole model")
    targets = config.get("target_modules")
    stated = {"peft_type": "LORA", "r": args["r"], "lora_alpha": args["alpha"],
              "target_modules": sorted(args["targets"])}
    found = {**config, "target_modules": sorted(map(str, targets)) if isinstance(targets, (list, dict)) else targets}
    wrong = [key for key, value in stated.items() if found.get(key) != value]
    if wrong:
        raise Fail(f"{what}: adapter_config.json says {wrong[0]} = {fmt_value(found.get(wrong[0]))}, but the model's "
                   f"adapter has {fmt_value(stated[wrong[0]])}; save the PeftModel's own config")
    with torch.random.fork_rng(devices=[]):   # the grader's model, adapter and logits; its own random stream kept
        model = probes.seeded_adapter(args["model_seed"], args["seed"] + 1, args["r"], args["alpha"], args["targets"])
        layout = get_peft_model_state_dict(model)
        if set(tensors) != set(layout):
            missing = sorted(set(layout) - set(tensors))
            raise Fail(f"{what}: the adapter file's tensors are not the ones PEFT saves and loads"
                       f"{f' (no {missing[0]!r})' if missing else ''}; PeftModel.from_pretrained would not load them")
        for name, tensor in layout.items():
            given = tensors[name]
            if type(given) is not torch.Tensor or given.shape != tensor.shape or not given.is_floating_point() \
                    or not bool(torch.isfinite(given).all()):
                raise Fail(f"{what}: the adapter file's {name} is not a finite tensor of shape {list(tensor.shape)}")
        set_peft_model_state_dict(model, {name: tensor.to(torch.float32) for name, tensor in tensors.items()})
        model.eval()
        with torch.no_grad():
            return model(input_ids=torch.tensor([args["probe_ids"]])).logits[0]


@register
class SaveLoad(Check):
    """The probe hands ``save_adapter`` a PeftModel whose adapter is drawn from a seed and sends back what
    was written; the grading process loads it onto its own copy of the tiny model and compares the logits
    with those of the adapter the reference saved (nothing about loading is taken from the worker)."""

    id = "save_load"
    title = "save_adapter writes a PEFT adapter (LoRA factors only) that PeftModel.from_pretrained loads exactly"

    def plan(self, rng):
        args = _training_args(rng, steps=4)
        return [ProbeCall(probes.save_and_load, {key: args[key] for key in ("model_seed", "seed", "r", "alpha", "targets")}
                          | {"probe_ids": [rng.randrange(256) for _ in range(12)]}, module="finetune")]

    def judge(self, calls, got, want):
        what = "save_adapter(model, folder) of a PeftModel, the folder then loaded onto a fresh base model"
        args = calls[0].args
        mine = _saved_logits(args, result_of(got[0], what), what)
        theirs = _saved_logits(args, reference_value(want[0], what), "the reference's save_adapter")
        expect_tensor(mine, theirs, f"{what}: the logits of the model loaded from your folder against those of the "
                                    f"adapter that was saved", rtol=1e-4, atol=1e-5)


@register
class Perplexity(Check):
    id = "perplexity"
    title = "perplexity: exp of the mean token negative log-likelihood over all texts together"

    def plan(self, rng):
        texts = rng.sample(QUOTES_LINES, 3) + ["I"]
        return [ProbeCall(probes.perplexity, {"model_seed": rng.randint(0, 10_000), "texts": texts},
                          module="finetune"),
                ProbeCall(probes.perplexity, {"model_seed": 1, "texts": []}, module="finetune")]

    def judge(self, calls, got, want):
        what = f"perplexity(tiny model, tokenizer, {calls[0].args['texts']})"
        value = field(result_of(got[0], what), "result", what)
        expected = reference_value(want[0], what)["result"]
        expect_number(value, expected, what + " (pool the tokens of all texts; a one-token text predicts nothing)",
                      rtol=1e-4)
        expect_raises(got[1], "ValueError", "perplexity(model, tokenizer, []) (no token to predict)")


@register
class GpuTrain(Check):
    id = "gpu_train"
    title = "on CUDA: 50 bf16 LoRA steps on SmolLM2-135M; the loss falls and tokens per second are recorded"

    def plan(self, rng):
        from ...core.models import cached_default_model

        texts = [f"Holmes: {line} {other}" for line in QUOTES_LINES for other in QUOTES_LINES[:3]]
        folder = str(cached_default_model())
        # the folder lies in the grader's cache, which the sandbox hides: the call names it, so it is handed
        return [ProbeCall(probes.train_gpu, {"model_folder": folder, "texts": texts, "steps": 50, "lr": 2e-4,
                                                 "batch_size": 4, "max_length": 128, "device": "cuda"}, module="finetune",
                          reads=(folder,))]

    def judge(self, calls, got, want):
        steps, device = calls[0].args["steps"], calls[0].args["device"]
        what = f"train_adapter(SmolLM2-135M, steps={steps}, device={device!r})"
        value = result_of(got[0], what)
        losses = field(value, "losses", what)
        if not isinstance(losses, list) or len(losses) != steps or not all(math.isfinite(loss) for loss in losses):
            raise Fail(f"{what}: expected {steps} finite losses, got {fmt_value(losses)}")
        window = max(1, steps // 5)
        if not sum(losses[-window:]) < sum(losses[:window]):
            raise Fail(f"{what}: the loss did not fall (first {window} steps {sum(losses[:window]) / window:.3f}, "
                       f"last {window} {sum(losses[-window:]) / window:.3f})")
        expect_learned(*real_model_losses(calls[0].args, field(value, "adapter", what),
                                          reference_value(want[0], what)["adapter"], what), what)
        return Verdict(1.0, f"{value.get('tokens_per_second', 0):.0f} tokens/s on {value.get('device')}")
