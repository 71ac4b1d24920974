# Two commands on a fresh machine (Python >= 3.10, g++, make, perl):
#   make demo   generate digits from a shipped checkpoint, score them, and run them through the RTL twin
#               on the virtual board
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

# The chain end to end: float samples and their quality, then the same latents through the quantized
# RTL twin on the virtual board (PYNQ driver -> emulated AXI DMA -> Verilator), bit-exact with the golden model.
demo: $(STAMP)
	$(BIN)/fpgagen sample $(PRESET) --n 64 --out out/$(PRESET)-float.png
	$(BIN)/fpgagen eval $(PRESET)
	$(BIN)/fpgagen generate $(PRESET) --target rtlsim --n 64 --out out/$(PRESET)-rtlsim.png

# One pytest-xdist worker per core (TEST_WORKERS=0: one process), handed the tests in the order tests/conftest.py
# gives them (longest first), each xdist_group to one worker.
TEST_WORKERS ?= auto
test: $(STAMP)
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder

lint: $(STAMP)
	$(BIN)/ruff check .

# Retrain every shipped checkpoint (a few CPU minutes each); classifiers first, the metrics use them.
checkpoints: $(STAMP)
	for m in classifier8 classifier28 digits8 mnist28 vae28 dcgan28; do \
		$(BIN)/fpgagen train $$m --out models/checkpoints/$$m.safetensors || exit 1; done

clean:
	rm -rf out runs .pytest_cache
