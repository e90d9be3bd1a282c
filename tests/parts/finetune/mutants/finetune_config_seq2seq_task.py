"""make_lora_config declares a sequence-to-sequence task (TaskType.SEQ_2_SEQ_LM) for a decoder-only causal LM."""

MODULE = "finetune"
CAUGHT_BY = ["finetune/lora_config"]
PATCH = [
    ('bias="none", task_type=TaskType.CAUSAL_LM)',
     'bias="none", task_type=TaskType.SEQ_2_SEQ_LM)'),
]
