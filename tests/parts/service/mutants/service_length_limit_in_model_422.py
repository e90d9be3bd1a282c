"""The message length limit is a pydantic max_length, so a too-long message gets 422 instead of 413."""

MODULE = "service"
CAUGHT_BY = ['service/api_errors']
PATCH = [
    ('        role: Literal["user", "assistant"]\n        content: StrictStr\n',
     '        role: Literal["user", "assistant"]\n        content: StrictStr = Field(max_length=max_message_chars)\n'),
]
