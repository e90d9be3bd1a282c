"""Seeded synthetic book passages whose every speaker is known: the ground truth of the persona checks.

Real books have no answer key, so the hidden checks write their own passages, in the forms that
``lora_lab.persona`` documents (novel attributions on either side of a quote, pronouns, split speeches,
speeches running over two paragraphs, play speaker tags and stage directions) with invented names, and
know exactly which lines belong to which speaker. Each turn also records its *form*, so feedback can say
which kind of attribution a student's extractor missed.
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


def novel(rng: random.Random, turns: int = 18, straight: bool = False) -> Passage:
    """A novel passage: speech paragraphs in every documented form, narration in between."""
    character, aliases = rng.choice(TARGETS)
    others = rng.sample(OTHERS, 3)
    paragraphs, answer = [], []
    previous: Turn | None = None
    # Two chains on every seed, so that no pronoun or previous-line bug can hide behind a lucky draw: the
    # character named, then "said he" (the character twice in a row), and another speaker named, then
    # "said she" (not the character's line).
    chains = sorted(zip(rng.sample(range(0, turns - 2, 3), 2), rng.sample([character, rng.choice(others)], 2)))
    pronoun_next = False
    while len(answer) < turns:
        speaker = character if rng.random() < 0.5 else rng.choice(others)
        verb = rng.choice(VERBS)
        words = _speech(rng)
        forms = ["verb name", "name verb", "before", "split", "unattributed", "narrator", "two paragraphs"]
        if previous is not None and previous.speaker not in ("", "I"):
            forms.append("pronoun")
        form = rng.choice(forms)
        if pronoun_next:
            form, pronoun_next = "pronoun", False
        elif chains and len(answer) >= chains[0][0]:
            speaker, form, pronoun_next = chains.pop(0)[1], rng.choice(("verb name", "name verb", "before")), True
        name = rng.choice((speaker, *aliases)) if speaker == character else speaker
        if form == "verb name":
            paragraph, turn = f"“{words}” {verb} {name}.", Turn(speaker, words, "“…” said NAME")
        elif form == "name verb":
            paragraph, turn = f"“{words}” {name} {verb}.", Turn(speaker, words, "“…” NAME said")
        elif form == "before":
            paragraph, turn = f"{name} {verb}, “{words}”", Turn(speaker, words, "NAME said, “…” (attribution first)")
        elif form == "split":
            first, second = _speech(rng, 1), _speech(rng, 1)
            first = first[:-1] + ","
            paragraph = f"“{first}” {verb} {name}, “{second}”"
            turn = Turn(speaker, f"{first} {second}", "a speech split by “said NAME”")
        elif form == "pronoun":
            speaker = previous.speaker
            pronoun = rng.choice(("he", "she"))
            paragraph, turn = f"“{words}” {verb} {pronoun}.", Turn(speaker, words, "“…” said he, after the same speaker")
        elif form == "unattributed":
            paragraph, turn = f"“{words}”", Turn("", words, "speech with no attribution")
        elif form == "narrator":
            paragraph, turn = f"“{words}” said I.", Turn("I", words, "“…” said I (the narrator)")
        else:
            second = _speech(rng)
            paragraphs.append(_wrap(f"“{words}” {verb} {name}. “{second}", rng))
            answer.append(Turn(speaker, f"{words} {second}", "a quotation left open at the end of a paragraph"))
            paragraph = f"“{_speech(rng)}”"
            turn = Turn(speaker, paragraph[1:-1], "the paragraph that continues an open quotation")
        paragraphs.append(_wrap(paragraph, rng))
        answer.append(turn)
        previous = turn
        if not pronoun_next and rng.random() < 0.25:
            paragraphs.append(_wrap(rng.choice(NARRATION).format(name=rng.choice((character, *others))), rng))
            previous = None
    text = "\n\n".join(paragraphs) + "\n"
    if straight:
        text = text.replace("“", '"').replace("”", '"')
    return Passage(text, character, aliases, tuple(answer))


def play(rng: random.Random, speeches: int = 14) -> Passage:
    """A play passage: capitalised speaker tags, verse lines, bracketed and indented stage directions."""
    character, aliases = rng.choice(TARGETS)
    others = [name.replace("the ", "").replace("Mrs. ", "").replace("Miss ", "").replace("Colonel ", "")
              for name in rng.sample(OTHERS, 3)]
    blocks, answer = [], []
    for number in range(speeches):
        speaker = character if rng.random() < 0.5 else rng.choice(others)
        verse = [_speech(rng, 1) for _ in range(rng.randint(1, 3))]
        if rng.random() < 0.3:
            verse[-1] += rng.choice((" [_Aside._]", " [_Exit._]", " [_Kneels._]"))
        tag = speaker.upper() + "."
        if rng.random() < 0.3:
            lines = [f"{tag} {verse[0]}", *verse[1:]]
        else:
            lines = [tag, *verse]
        words = " ".join(line.split(" [")[0] for line in verse)
        answer.append(Turn(speaker, " ".join(words.split()),
                           "a speech after a speaker tag" if lines[0] == tag else "a speech starting on the tag's line"))
        block = "\n".join(lines)
        if rng.random() < 0.25:
            block += "\n" + rng.choice(PLAY_DIRECTIONS).format(name=rng.choice(others))
        blocks.append(block)
    separators = ["\n\n" if rng.random() < 0.8 else "\n" for _ in blocks]
    text = "".join(block + separator for block, separator in zip(blocks, separators))
    return Passage(text, character, (), tuple(answer))
