"""extract_lines does not end a play speech at an indented 'Enter'/'Exit' direction, which becomes part of the speech."""

MODULE = "persona"
CAUGHT_BY = ["finetune/extract_play"]
PATCH = [
    ("        if tag or not line.strip() or _DIRECTION.match(line):\n",
     "        if tag or not line.strip():\n"),
]
