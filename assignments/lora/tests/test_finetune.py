"""Public tests for part 5, training (finetune.py), on a tiny random Llama: seconds, no download."""

import pytest
import torch
from peft import PeftModel
from tiny_models import byte_tokenizer, tiny_llama

from lora_lab.finetune import make_lora_config, perplexity, save_adapter, train_adapter
from lora_lab.persona import tokenize_examples

LINES = ["You see, but you do not observe.", "The game is afoot.", "Data! I cannot make bricks without clay.",
         "Elementary.", "It is simplicity itself.", "My mind rebels at stagnation."]


def dataset(tokenizer):
    examples = [{"messages": [{"role": "system", "content": "You are Holmes."},
                              {"role": "user", "content": "Well?"},
                              {"role": "assistant", "content": line}]} for line in LINES]
    return tokenize_examples(examples, tokenizer, max_length=256)


def train(steps=20, seed=0):
    tokenizer = byte_tokenizer()
    model = tiny_llama(seed=1, vocab_size=len(tokenizer))
    config = make_lora_config(r=4, alpha=8, dropout=0.0)
    return train_adapter(model, tokenizer, dataset(tokenizer), config=config, steps=steps, lr=1e-2, batch_size=2,
                         seed=seed), tokenizer


def test_make_lora_config():
    config = make_lora_config()
    assert (config.r, config.lora_alpha, config.lora_dropout) == (8, 16, 0.05)
    assert set(config.target_modules) == {"q_proj", "k_proj", "v_proj", "o_proj"}
    with pytest.raises(ValueError):
        make_lora_config(r=0)


def test_only_the_adapter_trains_and_the_loss_falls():
    result, _ = train()
    assert len(result.losses) == 20 and result.losses[-1] < result.losses[0]
    # r x (in + out) for q, k, v, o in each of 2 layers (hidden 32, key/value 16 wide)
    assert result.trainable_params == 2 * 4 * ((32 + 32) + (32 + 16) + (32 + 16) + (32 + 32))
    assert all("lora_" in name for name, p in result.model.named_parameters() if p.requires_grad)
    assert result.total_params > result.trainable_params and result.tokens_per_second > 0


def test_same_seed_same_losses():
    assert train(steps=5)[0].losses == train(steps=5)[0].losses


def test_saved_adapter_reloads_with_peft(tmp_path):
    result, tokenizer = train(steps=5)
    save_adapter(result.model, tmp_path)
    assert (tmp_path / "adapter_config.json").is_file() and (tmp_path / "adapter_model.safetensors").is_file()
    loaded = PeftModel.from_pretrained(tiny_llama(seed=1, vocab_size=len(tokenizer)), tmp_path).eval()
    ids = torch.tensor([tokenizer("Holmes")["input_ids"]])
    with torch.no_grad():
        assert torch.allclose(loaded(input_ids=ids).logits, result.model.eval()(input_ids=ids).logits, atol=1e-5)


def test_perplexity_of_a_uniform_model_is_the_vocabulary_size():
    tokenizer = byte_tokenizer()
    model = tiny_llama(seed=1, vocab_size=len(tokenizer))
    with torch.no_grad():
        model.lm_head.weight.zero_()  # every token equally likely
    assert perplexity(model, tokenizer, LINES) == pytest.approx(len(tokenizer), rel=1e-4)
    with pytest.raises(ValueError):
        perplexity(model, tokenizer, [])
