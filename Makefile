# Two commands on a fresh machine (Python >= 3.10, g++, make, perl):
#   make demo   generate digits with a shipped checkpoint and measure their quality
#   make test   run the whole test suite
# Each creates or reuses the virtual environment .venv and installs what it needs into it.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.fpgagen-installed
PRESET ?= mnist28

.PHONY: install demo test lint checkpoints clean

install: $(STAMP)

$(STAMP): pyproject.toml scripts/install.sh
	bash scripts/install.sh $(PYTHON) $(VENV)
	touch $@

demo: $(STAMP)
	$(BIN)/fpgagen sample $(PRESET) --n 64 --out out/$(PRESET).png
	$(BIN)/fpgagen eval $(PRESET)

test: $(STAMP)
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .

# Retrain every shipped checkpoint (a few CPU minutes each); classifiers first, the metrics use them.
checkpoints: $(STAMP)
	for m in classifier8 classifier28 digits8 mnist28 vae28 dcgan28; do \
		$(BIN)/fpgagen train $$m --out models/checkpoints/$$m.safetensors || exit 1; done

clean:
	rm -rf out runs .pytest_cache
