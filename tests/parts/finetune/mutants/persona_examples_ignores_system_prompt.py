"""build_examples always uses default_system_prompt(character), ignoring the system_prompt it is given."""

MODULE = "persona"
CAUGHT_BY = ["finetune/examples"]
PATCH = [
    ("    system = default_system_prompt(character) if system_prompt is None else system_prompt\n",
     "    system = default_system_prompt(character)\n"),
]
