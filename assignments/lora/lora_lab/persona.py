"""Part 5, data - from a Project Gutenberg book to chat examples in one character's voice.

A persona adapter learns *how a character speaks*, so its training data are the character's own lines,
each paired with what was said to them just before. This module turns a plain-text book into exactly
that, in four steps:

1. ``strip_gutenberg`` removes the Project Gutenberg header, footer and license;
2. ``extract_lines`` finds what one character says, in a novel or in a play;
3. ``build_examples`` pairs each line with the utterance before it as a chat conversation;
4. ``tokenize_examples`` turns conversations into token ids and *labels* that train only on the
   character's reply.

The rules the grader holds you to (and that the hidden passages follow):

Novels. A paragraph is the text between blank lines, its lines joined with single spaces. A paragraph is
one speaker's turn (novels start a new paragraph for a new speaker), and all the speech in it is ONE line:
its quoted pieces joined with a space. Speech is what stands between double quotes, curly (``“ ”``) or
straight (``"``); a paragraph without any is narration and no turn at all. The speaker is named in the
narration outside the quotes by an attribution: a speech verb next to a name, either way round
(``said Holmes``, ``Holmes said``, ``cried Alice``, ``Elizabeth replied``), after the speech or before it
(``Holmes said, “…”``); the first attribution of the paragraph counts. The name is the character's when it
is the character or one of the aliases (``Sherlock Holmes`` and ``Mr. Holmes`` name Holmes too: a name
counts when all its words appear in the attribution). The rules a careful reader could take two ways:

- A pronoun attribution (``said he``, ``she said``) gives the turn to the speaker of the turn just before
  it, as these rules found that speaker (a pronoun or a continued quotation included), when that turn is
  in the paragraph just before. After narration, after speech with no attribution, or at the start, the
  speaker of a pronoun is unknown. ``said I`` is the narrator, never the character.
- A speech split by its attribution (``“Come,” said Holmes, “the game is afoot.”``) is one paragraph, so
  ONE line: the pieces joined with a space (``Come, the game is afoot.``).
- A quotation left open at the end of a paragraph (no closing quote) continues in the next paragraph, which
  opens with a quote again and has the same speaker, without an attribution of its own. Each of the two
  paragraphs is still its own turn, so its own line: ``“I came at once,” said Holmes. “The letter`` then
  ``“was on the table.”`` are two lines of Holmes, ``I came at once, The letter`` and
  ``was on the table.``
- Speech with no attribution (and not continuing an open quotation) is someone else's or unknown: never
  the character's.

Plays. A speech starts with a line holding the speaker's name in capitals and a full stop
(``JULIET.``), optionally followed by the first words of the speech on the same line, and runs until a
blank line, the next speaker, or a stage direction (an indented line starting with ``Enter``, ``Exit``,
``Exeunt`` or ``Re-enter``), which is no part of the speech; directions in square brackets are removed
wherever they are. Each speech is ONE line: its lines of verse joined with a space, the words on the
tag's line first. The name matches the character or an alias written in capitals.

Every line comes back with its whitespace normalised (runs of spaces and newlines become one space, no
space at either end); empty lines are dropped; order is kept.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

NEUTRAL_PROMPT = "Please, go on."
SPEECH_VERBS = ("said", "says", "cried", "asked", "replied", "answered", "remarked", "observed", "continued",
                "exclaimed", "returned", "added", "whispered", "shouted", "muttered", "murmured", "began",
                "repeated", "interrupted", "inquired", "enquired", "responded", "called", "thought", "went on")
PRONOUNS = ("he", "she", "they")


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
    # TODO: normalise line endings, find the header's last line and the footer's first line, slice
    raise NotImplementedError("TODO: normalise line endings, find the header's last line and the footer's first line, slice")


def extract_lines(text: str, character: str, aliases: Sequence[str] = ()) -> list[str]:
    """Everything ``character`` (or a name in ``aliases``) says in ``text``, in order.

    ``text`` is a novel or a play (see the module docstring for the rules); a text is read as a play
    when some line is the character's speaker tag, e.g. ``ROMEO.``.
    """
    # TODO: split the text into turns (speaker, words), keep the character's words
    raise NotImplementedError("TODO: split the text into turns (speaker, words), keep the character's words")


def build_examples(text: str, character: str, aliases: Sequence[str] = (),
                   system_prompt: str | None = None) -> list[dict[str, Any]]:
    """One chat example per line of ``character``: ``{"messages": [system, user, assistant]}``.

    Each message is ``{"role": ..., "content": ...}``. The examples are the lines ``extract_lines``
    returns, in order, one each. The assistant's content is the line; the user's content is the turn just
    before it (narration in between does not count) when someone else said it (another speaker, or
    speech with no known speaker), else ``NEUTRAL_PROMPT`` (the character's own previous line, as with
    the second paragraph of a continued quotation, or no turn before it). The system prompt defaults to
    ``default_system_prompt(character)``. The grader judges this pairing on the lines your own
    ``extract_lines`` finds, so a difference in extraction costs points in the extraction checks only.
    """
    # TODO: walk through every turn of the text, remembering the one before
    raise NotImplementedError('TODO: walk through every turn of the text, remembering the one before')


def default_system_prompt(character: str) -> str:
    return f"You are {character}. Answer in {character}'s own voice, manner and vocabulary."


def tokenize_examples(examples: Sequence[dict], tokenizer: Any, max_length: int):
    """A ``datasets.Dataset`` with columns ``input_ids``, ``attention_mask`` and ``labels``, one row per
    example, no padding.

    Use the tokenizer's chat template: the input is the whole conversation
    (``apply_chat_template(messages, tokenize=True, return_dict=False)``), and the prompt is the conversation without its last
    message followed by the generation prompt (``add_generation_prompt=True``). Labels are ``-100`` on
    the prompt's tokens and equal ``input_ids`` on everything after it (the reply, its end-of-turn token
    and whatever the template puts after it), so the loss trains only the character's reply. Rows are cut
    to their first ``max_length`` tokens; an example with no reply token left is dropped. Raises
    ``ValueError`` when ``max_length < 1``, when an example's last message is not the assistant's, or when
    the template does not start the conversation with the prompt.
    """
    # TODO: for each example, tokenize prompt and conversation, mask the prompt, truncate
    raise NotImplementedError('TODO: for each example, tokenize prompt and conversation, mask the prompt, truncate')
