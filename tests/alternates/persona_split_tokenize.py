"""persona.py whose tokenize_examples renders the prompt and the reply as text and tokenizes them separately.

The rest is the reference's extractor. Concatenating the ids of the rendered prompt and of the rendered
reply gives the same ids as tokenizing the whole conversation whenever the tokenizer does not merge
across the boundary after the generation prompt (true of ChatML's '<|im_start|>assistant\\n'), so the
labels mask exactly the prompt's tokens.
"""

from __future__ import annotations

ALTERNATE_FOR = "persona"

import re
from typing import Any, Sequence

NEUTRAL_PROMPT = "Please, go on."
SPEECH_VERBS = ("said", "says", "cried", "asked", "replied", "answered", "remarked", "observed", "continued",
                "exclaimed", "returned", "added", "whispered", "shouted", "muttered", "murmured", "began",
                "repeated", "interrupted", "inquired", "enquired", "responded", "called", "thought", "went on")
PRONOUNS = ("he", "she", "they")

_START = re.compile(
    r"^.*\*\*\*\s*START OF (?:THE|THIS) PROJECT GUTENBERG.*$"
    r"|^.*\*END\*THE SMALL PRINT!.*$",
    re.IGNORECASE | re.MULTILINE)
_END = re.compile(
    r"^.*\*\*\*\s*END OF (?:THE|THIS) PROJECT GUTENBERG.*$"
    r"|^\s*End of (?:the )?Project Gutenberg(?:'s|’s)?\b.*$",
    re.IGNORECASE | re.MULTILINE)
_VERBS = "|".join(verb.replace(" ", r"\s+") for verb in SPEECH_VERBS)
_NAME = r"(?:the\s+)?(?:(?:Mr|Mrs|Ms|Dr|St)\.\s+)?(?:[A-Z][\w’'-]*\s+)?[A-Z][\w’'-]*"
_VERB_THEN_NAME = re.compile(rf"\b(?:{_VERBS})\s+({_NAME}|he|she|they|I)\b")
_NAME_THEN_VERB = re.compile(rf"(?<![\w’'])({_NAME}|[Hh]e|[Ss]he|[Tt]hey|I)\s+(?:{_VERBS})\b")
_PLAY_TAG = re.compile(r"^([A-Z][A-Z’' -]*[A-Z])\.(?:\s+(.*))?$")
_DIRECTION = re.compile(r"^\s+(?:Enter|Exit|Exeunt|Re-enter)\b")


def normalise_space(text: str) -> str:
    """Runs of whitespace become one space; no space at either end."""
    return " ".join(text.split())


def strip_gutenberg(text: str) -> str:
    """The book's own text, without the Project Gutenberg header, footer and license.

    Line endings become ``\\n``. The body starts after the ``*** START OF THE/THIS PROJECT GUTENBERG
    EBOOK ... ***`` line (or the older ``*END*THE SMALL PRINT! ...`` line) and ends before the first
    footer line after it: ``*** END OF THE/THIS PROJECT GUTENBERG EBOOK ... ***`` or the older
    ``End of the Project Gutenberg EBook of ...`` / ``End of Project Gutenberg's ...``. Blank lines
    around the body are removed. Text without these markers (already clean) comes back unchanged apart
    from its line endings.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff")
    start = _START.search(text)
    end = _END.search(text, start.end() if start else 0)
    if not start and not end:
        return text
    body = text[start.end() if start else 0:end.start() if end else len(text)]
    return body.strip("\n")


def extract_lines(text: str, character: str, aliases: Sequence[str] = ()) -> list[str]:
    """Everything ``character`` (or a name in ``aliases``) says in ``text``, in order.

    ``text`` is a novel or a play (see the module docstring for the rules); a text is read as a play
    when some line is the character's speaker tag, e.g. ``ROMEO.``.
    """
    return [words for is_character, words in _turns(text, [character, *aliases]) if is_character]


def build_examples(text: str, character: str, aliases: Sequence[str] = (),
                   system_prompt: str | None = None) -> list[dict[str, Any]]:
    """One chat example per line of ``character``: ``{"messages": [system, user, assistant]}``.

    Each message is ``{"role": ..., "content": ...}``. The assistant's content is the character's line;
    the user's content is the utterance just before it when someone else said it (another speaker, or
    speech with no known speaker), else ``NEUTRAL_PROMPT``. The system prompt defaults to
    ``default_system_prompt(character)``.
    """
    system = default_system_prompt(character) if system_prompt is None else system_prompt
    examples, previous = [], None
    for is_character, words in _turns(text, [character, *aliases]):
        if is_character:
            prompt = previous[1] if previous and not previous[0] else NEUTRAL_PROMPT
            examples.append({"messages": [{"role": "system", "content": system},
                                          {"role": "user", "content": prompt},
                                          {"role": "assistant", "content": words}]})
        previous = (is_character, words)
    return examples


def default_system_prompt(character: str) -> str:
    return f"You are {character}. Answer in {character}'s own voice, manner and vocabulary."


def tokenize_examples(examples: Sequence[dict], tokenizer: Any, max_length: int):
    """Tokenizes the rendered prompt and the rendered reply separately and concatenates the two id lists."""
    from datasets import Dataset

    if max_length < 1:
        raise ValueError(f"max_length must be at least 1, got {max_length}")
    table: dict[str, list] = {"input_ids": [], "attention_mask": [], "labels": []}
    for number, example in enumerate(examples):
        messages = list(example["messages"])
        if not messages or messages[-1].get("role") != "assistant":
            raise ValueError(f"example {number}: the conversation must end with the assistant's reply")
        prompt_text = tokenizer.apply_chat_template(messages[:-1], add_generation_prompt=True, tokenize=False)
        full_text = tokenizer.apply_chat_template(messages, tokenize=False)
        if not full_text.startswith(prompt_text):
            raise ValueError(f"example {number}: the chat template does not start the conversation with its prompt")
        prompt_ids = tokenizer(prompt_text, add_special_tokens=False)["input_ids"]
        reply_ids = tokenizer(full_text[len(prompt_text):], add_special_tokens=False)["input_ids"]
        ids = (prompt_ids + reply_ids)[:max_length]
        labels = ([-100] * len(prompt_ids) + reply_ids)[:max_length]
        if len(ids) <= len(prompt_ids):
            continue
        table["input_ids"].append(ids)
        table["attention_mask"].append([1] * len(ids))
        table["labels"].append(labels)
    return Dataset.from_dict(table)


def _turns(text: str, names: Sequence[str]) -> list[tuple[bool, str]]:
    """Every turn of speech in ``text`` as ``(said by one of names, words)``, in order."""
    capitals = {name.upper() for name in names}
    is_play = any((match := _PLAY_TAG.match(line)) and match.group(1) in capitals for line in text.splitlines())
    return _play_turns(text, capitals) if is_play else _novel_turns(text, names)


def _play_turns(text: str, capitals: set[str]) -> list[tuple[bool, str]]:
    turns: list[tuple[bool, str]] = []
    speaker, words = None, []

    def finish() -> None:
        if speaker is not None and normalise_space(" ".join(words)):
            turns.append((speaker in capitals, normalise_space(" ".join(words))))

    for line in re.sub(r"\[[^\]]*\]", " ", text).splitlines():
        tag = _PLAY_TAG.match(line)
        if tag or not line.strip() or _DIRECTION.match(line):
            finish()
            speaker, words = (tag.group(1), [tag.group(2) or ""]) if tag else (None, [])
        elif speaker is not None:
            words.append(line)
    finish()
    return turns


def _quotes(paragraph: str, open_at_start: bool) -> tuple[list[str], str, bool]:
    """The quoted pieces of a paragraph, its narration, and whether a quote is left open at the end."""
    curly = paragraph.replace("“", '"').replace("”", '"')
    pieces = curly.split('"')
    # With an open quote carried over, the paragraph's first piece is speech even without a mark.
    if open_at_start and not curly.lstrip().startswith('"'):
        pieces = ["", *pieces]
    speech = [piece for index, piece in enumerate(pieces) if index % 2 == 1]
    narration = " ".join(piece for index, piece in enumerate(pieces) if index % 2 == 0)
    return speech, narration, len(pieces) % 2 == 0


def _attribution(narration: str) -> str | None:
    """The name or pronoun in the first attribution of the narration, or ``None``."""
    found = [match for pattern in (_VERB_THEN_NAME, _NAME_THEN_VERB) if (match := pattern.search(narration))]
    return min(found, key=lambda match: match.start()).group(1) if found else None


def _names_match(attributed: str, names: Sequence[str]) -> bool:
    words = set(re.findall(r"[\w’']+", attributed.lower()))
    return any(set(re.findall(r"[\w’']+", name.lower())) <= words for name in names if name.strip())


def _novel_turns(text: str, names: Sequence[str]) -> list[tuple[bool, str]]:
    turns: list[tuple[bool, str]] = []
    previous: bool | None = None   # the speaker of the paragraph before: True, False or unknown
    carried: bool | None = None    # set when the paragraph before left a quotation open
    for paragraph in re.split(r"\n\s*\n", text):
        paragraph = normalise_space(paragraph)
        speech, narration, left_open = _quotes(paragraph, carried is not None)
        words = normalise_space(" ".join(speech))
        if not words:
            previous, carried = None, None
            continue
        if carried is not None:
            speaker = carried
        else:
            name = _attribution(narration)
            if name is None or name == "I":
                speaker = None if name is None else False
            elif name.lower() in PRONOUNS:
                speaker = previous
            else:
                speaker = _names_match(name, names)
        turns.append((speaker is True, words))
        previous = speaker
        carried = (speaker if speaker is not None else False) if left_open else None
    return turns
