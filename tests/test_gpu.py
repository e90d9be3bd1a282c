"""GPU checks: they run where CUDA is present and are reported as skipped elsewhere (never as passed)."""

from __future__ import annotations

import pytest
import torch

from autograder.engine.reference import Reference
from autograder.runtime.tiny_models import byte_tokenizer, tiny_llama

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU; none is present here")]


def test_reference_trains_in_bf16_on_cuda(assignment):
    reference = Reference(assignment.solution, assignment.package)
    persona, finetune = reference.module("persona"), reference.module("finetune")
    tokenizer = byte_tokenizer()
    examples = [{"messages": [{"role": "user", "content": "Well?"}, {"role": "assistant", "content": line}]}
                for line in ("The game is afoot.", "Elementary.", "You see, but you do not observe.")]
    dataset = persona.tokenize_examples(examples, tokenizer, 256)
    result = finetune.train_adapter(tiny_llama(1, vocab_size=len(tokenizer)), tokenizer, dataset,
                                    config=finetune.make_lora_config(r=4, alpha=8, dropout=0.0), steps=30, lr=1e-2,
                                    batch_size=3, seed=0, device="cuda")
    assert next(result.model.parameters()).is_cuda
    assert sum(result.losses[-5:]) < sum(result.losses[:5]) and result.tokens_per_second > 0


@pytest.mark.parametrize("part, check_id", [("finetune", "finetune/gpu_train"), ("service", "service/gpu_replies")])
def test_grading_runs_the_gpu_check(course, assignment, grade_folder, part, check_id):
    report = grade_folder(assignment.solution, parts=[part])
    gpu = next(check for check in report.parts[0].checks if check.spec.id == check_id)
    assert gpu.status == "passed", gpu.feedback
    assert report.parts[0].score == report.parts[0].max_score, [c.feedback for c in report.parts[0].checks]
