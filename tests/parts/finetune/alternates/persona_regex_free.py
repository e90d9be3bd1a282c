"""A regex-free persona.py: string methods, token lists and loops instead of the re module.

Written independently of the reference: the Gutenberg markers are found line by line, quotes by walking
the characters of a paragraph, attributions by looking at the words on either side of a speech verb, play
speeches by testing each line for a capitalised speaker tag. Full marks for it show that the hidden
checks grade the documented rules, not the reference's regular expressions.
"""

from __future__ import annotations

from typing import Any, Sequence

ALTERNATE_FOR = "persona"

NEUTRAL_PROMPT = "Please, go on."
SPEECH_VERBS = ("said", "says", "cried", "asked", "replied", "answered", "remarked", "observed", "continued",
                "exclaimed", "returned", "added", "whispered", "shouted", "muttered", "murmured", "began",
                "repeated", "interrupted", "inquired", "enquired", "responded", "called", "thought", "went on")
PRONOUNS = ("he", "she", "they")

TITLES = ("mr", "mrs", "ms", "dr", "st")
DIRECTION_WORDS = ("Enter", "Exit", "Exeunt", "Re-enter")
TAG_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZ’' -")
QUOTE_MARKS = ('"', "“", "”")


def normalise_space(text: str) -> str:
    return " ".join(text.split())


def default_system_prompt(character: str) -> str:
    return f"You are {character}. Answer in {character}'s own voice, manner and vocabulary."


# --- Project Gutenberg boilerplate --------------------------------------------------------------------

def _is_word_char(char: str) -> bool:
    return char.isalnum() or char == "_"


def _is_start_marker(line: str) -> bool:
    upper = line.upper()
    if "*END*THE SMALL PRINT!" in upper:
        return True
    position = upper.find("***")
    while position != -1:
        after = upper[position + 3:].lstrip()
        if after.startswith("START OF THE PROJECT GUTENBERG") or after.startswith("START OF THIS PROJECT GUTENBERG"):
            return True
        position = upper.find("***", position + 1)
    return False


def _is_end_marker(line: str) -> bool:
    upper = line.upper()
    position = upper.find("***")
    while position != -1:
        after = upper[position + 3:].lstrip()
        if after.startswith("END OF THE PROJECT GUTENBERG") or after.startswith("END OF THIS PROJECT GUTENBERG"):
            return True
        position = upper.find("***", position + 1)
    stripped = upper.lstrip()
    for opening in ("END OF THE PROJECT GUTENBERG", "END OF PROJECT GUTENBERG"):
        if stripped.startswith(opening):
            rest = stripped[len(opening):]
            for possessive in ("'S", "’S"):
                if rest.startswith(possessive):
                    rest = rest[len(possessive):]
                    break
            return not rest or not _is_word_char(rest[0])
    return False


def strip_gutenberg(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if text.startswith("\ufeff"):
        text = text.lstrip("\ufeff")
    lines = text.split("\n")
    start = next((number for number, line in enumerate(lines) if _is_start_marker(line)), None)
    first = 0 if start is None else start + 1
    end = next((number for number in range(first, len(lines)) if _is_end_marker(lines[number])), None)
    if start is None and end is None:
        return text
    body = lines[first:] if end is None else lines[first:end]
    while body and body[0] == "":
        body.pop(0)
    while body and body[-1] == "":
        body.pop()
    return "\n".join(body)


# --- Plays --------------------------------------------------------------------------------------------

def _speaker_tag(line: str) -> tuple[str, str] | None:
    """``(NAME, words on the same line)`` when the line starts with a capitalised speaker tag."""
    dot = line.find(".")
    if dot < 2:
        return None
    name, rest = line[:dot], line[dot + 1:]
    if not (name[0].isascii() and name[0].isupper() and name[-1].isascii() and name[-1].isupper()):
        return None
    if any(char not in TAG_CHARS for char in name):
        return None
    if rest and not rest[0].isspace():
        return None
    return name, rest.strip()


def _is_direction(line: str) -> bool:
    stripped = line.lstrip()
    if stripped == line:
        return False
    for word in DIRECTION_WORDS:
        if stripped.startswith(word):
            after = stripped[len(word):]
            if not after or not _is_word_char(after[0]):
                return True
    return False


def _without_brackets(text: str) -> str:
    pieces, position = [], 0
    while True:
        opening = text.find("[", position)
        closing = text.find("]", opening + 1) if opening != -1 else -1
        if closing == -1:
            pieces.append(text[position:])
            return "".join(pieces)
        pieces.append(text[position:opening] + " ")
        position = closing + 1


def _play_turns(text: str, capitals: set[str]) -> list[tuple[bool, str]]:
    turns = []
    speaker, collected = None, []
    for line in _without_brackets(text).split("\n") + [""]:
        tag = _speaker_tag(line)
        if tag is None and line.strip() and not _is_direction(line):
            if speaker is not None:
                collected.append(line)
            continue
        speech = normalise_space(" ".join(collected))
        if speaker is not None and speech:
            turns.append((speaker in capitals, speech))
        speaker, collected = (tag[0], [tag[1]]) if tag else (None, [])
    return turns


# --- Novels -------------------------------------------------------------------------------------------

def _paragraphs(text: str) -> list[str]:
    paragraphs, current = [], []
    for line in text.split("\n"):
        if line.strip():
            current.append(line)
        elif current:
            paragraphs.append(" ".join(current))
            current = []
    if current:
        paragraphs.append(" ".join(current))
    return [normalise_space(paragraph) for paragraph in paragraphs]


def _split_quotes(paragraph: str, continuing: bool) -> tuple[list[str], str, bool]:
    """Speech pieces, narration and whether the paragraph ends inside a quotation."""
    inside = continuing and not paragraph.startswith(QUOTE_MARKS)
    speech, narration, piece = [], [], []
    for char in paragraph + '"':  # a sentinel mark flushes the last piece
        if char in QUOTE_MARKS:
            (speech if inside else narration).append("".join(piece))
            piece = []
            inside = not inside
        else:
            piece.append(char)
    ends_open = not inside  # the sentinel toggled once more
    return speech, " ".join(narration), ends_open


def _core(token: str) -> str:
    start, end = 0, len(token)
    while start < end and not token[start].isalnum():
        start += 1
    while end > start and not token[end - 1].isalnum():
        end -= 1
    return token[start:end]


def _is_title(token: str) -> bool:
    return token.endswith(".") and _core(token).lower() in TITLES


def _ends_clause(token: str) -> bool:
    """A token followed by punctuation (other than a title's full stop) cannot run on into a name."""
    return bool(token) and not token[-1].isalnum() and not _is_title(token)


def _name_part(token: str) -> bool:
    core = _core(token)
    return bool(core) and (core[0].isupper() or core == "the" or _is_title(token))


def _verb_length(tokens: list[str], index: int) -> int:
    """How many tokens the speech verb starting at ``index`` covers (0 when there is none)."""
    for verb in SPEECH_VERBS:
        words = verb.split()
        window = tokens[index:index + len(words)]
        if len(window) == len(words) and all(_core(a) == b for a, b in zip(window, words)) \
                and not any(_ends_clause(a) for a in window[:-1]):
            return len(words)
    return 0


def _name_after(tokens: list[str], index: int) -> list[str]:
    if index >= len(tokens):
        return []
    if _core(tokens[index]).lower() in (*PRONOUNS, "i"):
        return [_core(tokens[index])]
    name = []
    for token in tokens[index:index + 4]:
        if not _name_part(token):
            break
        name.append(_core(token))
        if _ends_clause(token):
            break
    return name if any(word[0].isupper() and word.lower() not in TITLES for word in name) else []


def _name_before(tokens: list[str], index: int) -> list[str]:
    if index == 0 or _ends_clause(tokens[index - 1]):
        return []
    if _core(tokens[index - 1]).lower() in (*PRONOUNS, "i"):
        return [_core(tokens[index - 1])]
    name = []
    for token in reversed(tokens[max(0, index - 4):index]):
        if not _name_part(token) or (name and _ends_clause(token)):
            break
        name.insert(0, _core(token))
    return name if name and name[-1][0].isupper() else []


def _attribution(narration: str) -> list[str] | None:
    """The words of the name (or the pronoun) in the first attribution of the narration."""
    tokens = narration.split()
    for index in range(len(tokens)):
        length = _verb_length(tokens, index)
        if not length:
            continue
        before = _name_before(tokens, index)
        if before:
            return before
        if not _ends_clause(tokens[index + length - 1]):
            after = _name_after(tokens, index + length)
            if after:
                return after
    return None


def _words(name: str) -> set[str]:
    return {_core(word).lower() for word in name.replace(".", " ").split() if _core(word)}


def _novel_turns(text: str, names: Sequence[str]) -> list[tuple[bool, str]]:
    wanted = [_words(name) for name in names if name.strip()]
    turns = []
    last_speaker = None      # True (the character), False (someone else) or None (unknown)
    open_speaker = None      # the speaker of a quotation left open by the paragraph before
    for paragraph in _paragraphs(text):
        speech, narration, ends_open = _split_quotes(paragraph, open_speaker is not None)
        line = normalise_space(" ".join(speech))
        if not line:
            last_speaker = open_speaker = None
            continue
        if open_speaker is not None:
            speaker = open_speaker
        else:
            name = _attribution(narration)
            if name is None:
                speaker = None
            elif len(name) == 1 and name[0] == "I":
                speaker = False
            elif len(name) == 1 and name[0].lower() in PRONOUNS:
                speaker = last_speaker
            else:
                said = {word.lower() for word in name}
                speaker = any(words <= said for words in wanted)
        turns.append((speaker is True, line))
        last_speaker = speaker
        open_speaker = (speaker is True) if ends_open else None
    return turns


def _turns(text: str, names: Sequence[str]) -> list[tuple[bool, str]]:
    capitals = {name.upper() for name in names}
    for line in text.split("\n"):
        tag = _speaker_tag(line)
        if tag and tag[0] in capitals:
            return _play_turns(text, capitals)
    return _novel_turns(text, names)


def extract_lines(text: str, character: str, aliases: Sequence[str] = ()) -> list[str]:
    lines = []
    for is_character, words in _turns(text, [character, *aliases]):
        if is_character:
            lines.append(words)
    return lines


def build_examples(text: str, character: str, aliases: Sequence[str] = (),
                   system_prompt: str | None = None) -> list[dict[str, Any]]:
    if system_prompt is None:
        system_prompt = default_system_prompt(character)
    turns = _turns(text, [character, *aliases])
    examples = []
    for index, (is_character, words) in enumerate(turns):
        if not is_character:
            continue
        before = turns[index - 1] if index > 0 else None
        user = before[1] if before is not None and not before[0] else NEUTRAL_PROMPT
        examples.append({"messages": [{"role": "system", "content": system_prompt},
                                      {"role": "user", "content": user},
                                      {"role": "assistant", "content": words}]})
    return examples


# --- Tokenization -------------------------------------------------------------------------------------

def tokenize_examples(examples: Sequence[dict], tokenizer: Any, max_length: int):
    from datasets import Dataset

    if max_length < 1:
        raise ValueError(f"max_length must be positive, got {max_length}")
    input_ids, attention_mask, labels = [], [], []
    for number, example in enumerate(examples):
        messages = example["messages"]
        if not messages or messages[-1]["role"] != "assistant":
            raise ValueError(f"example {number} does not end with the assistant's message")
        whole = [int(token) for token in tokenizer.apply_chat_template(messages, tokenize=True, return_dict=False)]
        prompt = [int(token) for token in tokenizer.apply_chat_template(
            messages[:-1], tokenize=True, add_generation_prompt=True, return_dict=False)]
        if whole[:len(prompt)] != prompt:
            raise ValueError(f"example {number}: the conversation does not start with its prompt")
        ids = whole[:max_length]
        masked = [-100 if position < len(prompt) else token for position, token in enumerate(ids)]
        if len(prompt) >= len(ids):
            continue  # nothing of the reply is left after truncation
        input_ids.append(ids)
        attention_mask.append([1] * len(ids))
        labels.append(masked)
    return Dataset.from_dict({"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels})
