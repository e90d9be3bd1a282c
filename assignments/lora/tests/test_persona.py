"""Public tests for part 5, data (persona.py). The grader's hidden passages use other names and texts."""

import pytest
from tiny_models import byte_tokenizer

from lora_lab.persona import NEUTRAL_PROMPT, build_examples, extract_lines, strip_gutenberg, tokenize_examples

BOOK = """The Project Gutenberg eBook of A Study\r
\r
*** START OF THE PROJECT GUTENBERG EBOOK A STUDY ***\r
\r
CHAPTER I.\r
\r
It was a dark night.\r
\r
*** END OF THE PROJECT GUTENBERG EBOOK A STUDY ***\r
\r
Section 1. General Terms of Use\r
"""

NOVEL = """“You have been in Afghanistan, I perceive,” said Holmes.

“Never mind,” said he, smiling. “It is
simplicity itself.”

“How on earth did you know that?” I asked in astonishment.

Mrs. Hudson said, “Your tea is ready.”

"Thank you," Sherlock Holmes replied.
"""

PLAY = """ROMEO.
If I profane with my unworthiest hand
This holy shrine, the gentle sin is this.

JULIET.
Good pilgrim, you do wrong your hand too much, [_Smiling._]
Which mannerly devotion shows in this.
ROMEO. Have not saints lips?
 Enter Nurse.

JULIET. Ay, pilgrim, lips that they must use in prayer.
"""


def test_strip_gutenberg_removes_header_footer_and_license():
    assert strip_gutenberg(BOOK) == "CHAPTER I.\n\nIt was a dark night."


def test_strip_gutenberg_keeps_clean_text():
    assert strip_gutenberg("Already clean.\n\nTwo paragraphs.\n") == "Already clean.\n\nTwo paragraphs.\n"


def test_extract_lines_from_a_novel():
    assert extract_lines(NOVEL, "Holmes", aliases=["Sherlock Holmes"]) == [
        "You have been in Afghanistan, I perceive,",
        "Never mind, It is simplicity itself.",
        "Thank you,",
    ]


def test_extract_lines_from_a_play():
    assert extract_lines(PLAY, "Juliet") == [
        "Good pilgrim, you do wrong your hand too much, Which mannerly devotion shows in this.",
        "Ay, pilgrim, lips that they must use in prayer.",
    ]


def test_build_examples_pairs_each_line_with_the_one_before():
    examples = build_examples(PLAY, "Juliet", system_prompt="You are Juliet.")
    assert [m["role"] for m in examples[0]["messages"]] == ["system", "user", "assistant"]
    assert examples[0]["messages"][0]["content"] == "You are Juliet."
    assert examples[0]["messages"][1]["content"].startswith("If I profane")
    assert examples[1]["messages"][1]["content"] == "Have not saints lips?"
    first = build_examples(NOVEL, "Holmes", aliases=["Sherlock Holmes"])[0]
    assert first["messages"][1]["content"] == NEUTRAL_PROMPT  # nobody spoke before Holmes


def test_tokenize_examples_trains_only_on_the_reply():
    tokenizer = byte_tokenizer()
    examples = build_examples(PLAY, "Juliet", system_prompt="You are Juliet.")
    dataset = tokenize_examples(examples, tokenizer, max_length=1024)
    assert set(dataset.column_names) >= {"input_ids", "attention_mask", "labels"} and len(dataset) == 2
    row = dataset[0]
    trained = [token for token, label in zip(row["input_ids"], row["labels"]) if label != -100]
    assert tokenizer.decode(trained).startswith(examples[0]["messages"][2]["content"])
    assert row["labels"][0] == -100 and row["attention_mask"] == [1] * len(row["input_ids"])


def test_tokenize_examples_truncates_and_validates():
    tokenizer = byte_tokenizer()
    examples = build_examples(PLAY, "Juliet", system_prompt="You are Juliet.")
    assert all(len(ids) <= 80 for ids in tokenize_examples(examples, tokenizer, max_length=80)["input_ids"])
    with pytest.raises(ValueError):
        tokenize_examples(examples, tokenizer, max_length=0)
