"""Tiny random Llama-family models and a byte-level chat tokenizer, built offline in milliseconds.

The checks of the fine-tuning and service parts need a real ``transformers`` causal LM with a real
tokenizer and chat template, but not a good one: a two-layer model with random weights exercises exactly
the same code paths as SmolLM2 (the same ``LlamaForCausalLM`` with ``q_proj``/``k_proj``/``v_proj``/
``o_proj``). Everything here is deterministic: the same ``seed`` gives the same weights in any process,
so the sandboxed worker and the grading process build identical models without sharing files.
"""

from __future__ import annotations

from pathlib import Path

# SmolLM2's template without its default system prompt: ChatML turns and a generation prompt.
CHAT_TEMPLATE = ("{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] "
                 "+ '<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}"
                 "{% endif %}")
INIT_RANGE = 0.2  # wide enough that logits are far from uniform: a short run visibly lowers the loss
SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")


def byte_tokenizer():
    """A byte-level BPE tokenizer with no merges (one token per byte) plus ChatML's special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    backend = Tokenizer(models.BPE(vocab={char: index for index, char in enumerate(alphabet)}, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<|im_start|>", eos_token="<|im_end|>",
                                        pad_token="<|im_end|>", unk_token="<|endoftext|>")
    tokenizer.add_special_tokens({"additional_special_tokens": list(SPECIAL_TOKENS)})
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def tiny_llama(seed: int = 0, vocab_size: int | None = None, hidden_size: int = 32, layers: int = 2):
    """A random ``LlamaForCausalLM``: ``hidden_size`` wide, ``layers`` deep, 4 heads (2 key/value)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=vocab_size or len(byte_tokenizer()), hidden_size=hidden_size,
                         intermediate_size=2 * hidden_size, num_hidden_layers=layers, num_attention_heads=4,
                         num_key_value_heads=2, max_position_embeddings=512, tie_word_embeddings=False,
                         pad_token_id=None, bos_token_id=None, eos_token_id=None, initializer_range=INIT_RANGE)
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model = LlamaForCausalLM(config)
    finally:
        torch.random.set_rng_state(generator_state)
    model.eval()
    return model


def save_tiny(folder: Path, seed: int = 0) -> Path:
    """Save a tiny model and its tokenizer as a ``from_pretrained`` folder (for tools and tests)."""
    tokenizer = byte_tokenizer()
    tiny_llama(seed, vocab_size=len(tokenizer)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
