"""Seeded synthetic book passages whose every speaker is known: the ground truth of the persona checks.

Real books have no answer key, so the hidden checks write their own passages, in the forms that
``lora_lab.persona`` documents (novel attributions on either side of a quote, pronouns, split speeches,
speeches running over two paragraphs, play speaker tags and stage directions) with invented names, and
know exactly which lines belong to which speaker. Each turn also records its *form*, so feedback can say
which kind of attribution a student's extractor missed.

Every documented rule appears on every seed, the same number of times: a passage is a fixed list of
*units* (one rule each: a form of attribution, said by the character or by someone else, or a form of play
speech), and the seed chooses only the words, names, verbs, the order of the units and the narration
between them. A unit never depends on the one before it (a pronoun follows a named speaker inside its own
unit), so two students with the same bug lose the same lines, and the same points, on every seed.
"""

from __future__ import annotations

import random
import textwrap
from dataclasses import dataclass

# Each character has an alias holding its name and a nickname that does not (as Lizzy is Elizabeth).
TARGETS = (("Marlowe", ("Inspector Marlowe", "Kit")), ("Tessaly", ("Miss Tessaly", "Tess")),
           ("Brandt", ("Captain Brandt", "Bran")), ("Oriel", ("Lady Oriel", "Orry")), ("Quill", ("Dr. Quill", "Quilly")))
OTHERS = ("Fenwick", "Mrs. Abernathy", "Colonel Stroud", "Pippa", "the Duke", "Harrow", "Miss Lyle")
VERBS = ("said", "cried", "asked", "replied", "remarked", "observed", "answered", "whispered")
SENTENCES = (
    "The train leaves at a quarter past nine", "I have never seen such weather in all my life",
    "You will find the letter in the second drawer", "There is nothing more deceptive than an obvious fact",
    "We must be at the station before the lamps are lit", "It is a capital mistake to guess too soon",
    "Pray take a seat by the fire", "The matter is of the utmost importance to my family",
    "I fear that the key has been lost for good", "Nobody in the village has seen him since Tuesday",
    "The garden gate was open when we arrived", "My brother will hear nothing of the kind",
    "Let us walk along the river while it is still light", "The clock in the hall has stopped again",
    "You are very kind to say so", "There were three cups upon the table and only two guests",
    "I shall write to the bishop this very evening", "How singular that the dog made no sound",
    "Nothing could persuade her to leave the house", "We dined at the inn and set off at once",
    "The ledger shows a payment that nobody can explain", "What a curious thing to say to a stranger",
    "It will rain before morning, mark my words", "The bridge was washed away in the spring floods",
)
NARRATION = ("{name} leaned back in the chair and closed the window.", "A cart rattled past in the street below.",
             "For a long while nobody spoke, and the fire burned low.", "{name} crossed the room without a word.")
PLAY_DIRECTIONS = (" Enter {name}.", " Exit {name}.", " Exeunt.", " Re-enter {name}, with a letter.")


@dataclass(frozen=True)
class Turn:
    speaker: str          # who says it ("" when nobody is named: unknown)
    words: str            # exactly what extract_lines must return for it, whitespace normalised
    form: str             # how the passage attributes it, for feedback


@dataclass(frozen=True)
class Passage:
    text: str
    character: str
    aliases: tuple[str, ...]
    turns: tuple[Turn, ...]

    @property
    def lines(self) -> list[str]:
        """The character's lines, in order: the answer key of ``extract_lines``."""
        return [turn.words for turn in self.turns if turn.speaker == self.character]


def _speech(rng: random.Random, sentences: int = 0) -> str:
    picked = rng.sample(SENTENCES, sentences or rng.randint(1, 2))
    return " ".join(sentence + rng.choice(".!?") for sentence in picked)


def _wrap(paragraph: str, rng: random.Random) -> str:
    return "\n".join(textwrap.wrap(paragraph, width=rng.randint(50, 72)))


# The novel's units: (form, who speaks: "character" or "other", how the character is named). Each rule of
# persona.py's module docstring is one form; the character's lines count 8 on every seed.
NOVEL_UNITS = (
    ("verb name", "character", "name"), ("name verb", "character", "alias"), ("before", "character", "nickname"),
    ("split", "character", "name"), ("chain", "character", "name"), ("two paragraphs", "character", "name"),
    ("verb name", "other", ""), ("name verb", "other", ""), ("before", "other", ""), ("split", "other", ""),
    ("chain", "other", ""), ("two paragraphs", "other", ""), ("unattributed", "other", ""), ("narrator", "other", ""),
)
# build_examples' passage: only the plain forms (so that every extractor that gets them right reads it alike),
# in units that put before a line of the character each kind of turn: another speaker, unattributed
# speech, the character itself.
EXAMPLE_UNITS = (("after other",), ("after unattributed",), ("after character",), ("alone",), ("other alone",))
FORMS = {"verb name": "“…” said NAME", "name verb": "“…” NAME said", "before": "NAME said, “…” (attribution first)",
         "split": "a speech split by “said NAME”", "pronoun": "“…” said he, after the same speaker",
         "unattributed": "speech with no attribution", "narrator": "“…” said I (the narrator)",
         "open": "a quotation left open at the end of a paragraph",
         "continued": "the paragraph that continues an open quotation (its own line)"}


def _named(rng: random.Random, form: str, speaker: str, name: str) -> list[tuple[str, Turn]]:
    """The paragraphs (text, turn) of one unit whose speaker is named ``name``."""
    verb, words = rng.choice(VERBS), _speech(rng)
    if form == "verb name":
        return [(f"“{words}” {verb} {name}.", Turn(speaker, words, FORMS[form]))]
    if form == "name verb":
        return [(f"“{words}” {name} {verb}.", Turn(speaker, words, FORMS[form]))]
    if form == "before":
        return [(f"{name} {verb}, “{words}”", Turn(speaker, words, FORMS[form]))]
    if form == "split":
        first, second = _speech(rng, 1)[:-1] + ",", _speech(rng, 1)
        return [(f"“{first}” {verb} {name}, “{second}”", Turn(speaker, f"{first} {second}", FORMS[form]))]
    if form == "chain":   # named, then "said he": the same speaker twice in a row
        pronoun = _named(rng, "verb name", speaker, name)
        more = _speech(rng)
        return pronoun + [(f"“{more}” {rng.choice(VERBS)} {rng.choice(('he', 'she'))}.",
                           Turn(speaker, more, FORMS["pronoun"]))]
    if form == "two paragraphs":
        second, third = _speech(rng), _speech(rng)
        return [(f"“{words}” {verb} {name}. “{second}", Turn(speaker, f"{words} {second}", FORMS["open"])),
                (f"“{third}”", Turn(speaker, third, FORMS["continued"]))]
    raise ValueError(form)


def _assemble(rng: random.Random, units: list[list[tuple[str, Turn]]], names: list[str], character: str,
              aliases: tuple[str, ...], straight: bool = False) -> Passage:
    rng.shuffle(units)
    paragraphs, answer = [], []
    for unit in units:
        for text, turn in unit:
            paragraphs.append(_wrap(text, rng))
            answer.append(turn)
        if rng.random() < 0.3:
            paragraphs.append(_wrap(rng.choice(NARRATION).format(name=rng.choice(names)), rng))
    text = "\n\n".join(paragraphs) + "\n"
    if straight:
        text = text.replace("“", '"').replace("”", '"')
    return Passage(text, character, aliases, tuple(answer))


def _distinct(make):
    """``make``, drawn again until no two turns of its passage say the same words (so that every line of
    the answer key, and of a student's answer, is one turn)."""

    def draw(rng: random.Random, *args, **kwargs) -> Passage:
        while True:
            passage = make(rng, *args, **kwargs)
            if len({turn.words for turn in passage.turns}) == len(passage.turns):
                return passage

    draw.__doc__, draw.__name__ = make.__doc__, make.__name__
    return draw


@_distinct
def novel(rng: random.Random, straight: bool = False) -> Passage:
    """A novel passage: every unit of :data:`NOVEL_UNITS` once, in a seeded order, narration in between."""
    character, aliases = rng.choice(TARGETS)
    others = rng.sample(OTHERS, 3)
    units = []
    for form, who, naming in NOVEL_UNITS:
        if form == "unattributed":
            words = _speech(rng)
            units.append([(f"“{words}”", Turn("", words, FORMS[form]))])
        elif form == "narrator":
            words = _speech(rng)
            units.append([(f"“{words}” {rng.choice(VERBS)} I.", Turn("I", words, FORMS[form]))])
        elif who == "character":
            name = {"name": character, "alias": aliases[0], "nickname": aliases[1]}[naming]
            units.append(_named(rng, form, character, name))
        else:
            units.append(_named(rng, form, (other := rng.choice(others)), other))
    return _assemble(rng, units, [character, *others], character, aliases, straight)


@_distinct
def examples_novel(rng: random.Random) -> Passage:
    """build_examples' passage: the units of :data:`EXAMPLE_UNITS`, plain attributions only."""
    character, aliases = rng.choice(TARGETS)
    others = rng.sample(OTHERS, 3)

    def plain(form: str, speaker: str) -> list[tuple[str, Turn]]:
        return _named(rng, form, speaker, speaker)

    units = []
    for (kind,) in EXAMPLE_UNITS:
        if kind == "after other":
            units.append(plain("name verb", rng.choice(others)) + plain("verb name", character))
        elif kind == "after unattributed":
            words = _speech(rng)
            units.append([(f"“{words}”", Turn("", words, FORMS["unattributed"]))] + plain("before", character))
        elif kind == "after character":
            units.append(plain("verb name", character) + plain("name verb", character))
        elif kind == "alone":
            units.append(plain("verb name", character))
        else:
            units.append(plain("before", rng.choice(others)))
    return _assemble(rng, units, [character, *others], character, aliases)


# The play's speeches: (the character's?, verse lines, the first on the tag's line?, a bracketed direction at
# the end?, followed by an indented direction?, then no blank line before the next speaker?).
PLAY_UNITS = (
    (True, 1, False, False, False, False), (True, 3, False, False, False, True), (True, 2, True, False, False, False),
    (True, 2, False, True, False, False), (True, 1, True, True, False, True), (True, 2, False, False, True, False),
    (True, 1, False, False, True, False),
    (False, 2, False, False, False, False), (False, 1, True, False, False, True), (False, 2, False, True, False, False),
    (False, 1, False, False, True, False), (False, 3, False, False, False, False), (False, 2, True, False, False, False),
    (False, 1, False, False, False, False),
)


@_distinct
def play(rng: random.Random) -> Passage:
    """A play passage: every speech of :data:`PLAY_UNITS` once, in a seeded order: capitalised speaker tags,
    verse lines, bracketed and indented stage directions, speeches ended by a blank line, a direction or
    the next tag."""
    character, _ = rng.choice(TARGETS)
    others = [name.replace("the ", "").replace("Mrs. ", "").replace("Miss ", "").replace("Colonel ", "")
              for name in rng.sample(OTHERS, 3)]
    units = list(PLAY_UNITS)
    rng.shuffle(units)
    text, answer = "", []
    for mine, count, on_tag, bracket, direction, no_blank in units:
        speaker = character if mine else rng.choice(others)
        verse = [_speech(rng, 1) for _ in range(count)]
        if bracket:
            verse[-1] += rng.choice((" [_Aside._]", " [_Exit._]", " [_Kneels._]"))
        tag = speaker.upper() + "."
        lines = [f"{tag} {verse[0]}", *verse[1:]] if on_tag else [tag, *verse]
        words = " ".join(line.split(" [")[0] for line in verse)
        answer.append(Turn(speaker, " ".join(words.split()),
                           "a speech starting on the tag's line" if on_tag else "a speech after a speaker tag"))
        if direction:
            lines.append(rng.choice(PLAY_DIRECTIONS).format(name=rng.choice(others)))
        text += "\n".join(lines) + ("\n" if no_blank else "\n\n")
    return Passage(text, character, (), tuple(answer))
