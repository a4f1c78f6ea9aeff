# tcpinc_tools — the two set-up commands: `make demo` and `make test`.
# Both create .venv and install what they need; `make test` as root also installs the
# Debian packages the later test suites use (tshark, tcpdump, nftables, iproute2, tmux).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEB_PACKAGES := tshark tcpdump nftables iproute2 tmux lua-luaossl
# Hypothesis examples per decoder in the fuzz contract (tests/unit/test_decoder_contract.py).
FUZZ_EXAMPLES ?= 10000

.PHONY: all venv deps debs lint typecheck layers pytest test test-native clean captures demo

all: test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# Debian packages for the tshark, namespace and TUI suites. Only as root, and only the
# missing ones; wireshark-common's "non-superusers capture" question is answered "no".
debs:
	@if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
	  missing=""; \
	  for p in $(DEB_PACKAGES); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	  done; \
	  if [ -n "$$missing" ]; then \
	    echo "installing Debian packages:$$missing"; \
	    echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  fi; \
	else \
	  echo "not root: Debian packages not installed; tests that need them will skip"; \
	fi

deps: venv debs

lint: venv
	$(BIN)/ruff check tcpinc_tools tests
	$(BIN)/ruff format --check tcpinc_tools tests

typecheck: venv
	$(BIN)/mypy --strict tcpinc_tools

layers: venv
	$(BIN)/lint-imports

pytest: venv
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest -q \
	  --cov=tcpinc_tools --cov-report=term:skip-covered \
	  --cov-report=json:.coverage.json
	@$(BIN)/python tests/coverage_summary.py .coverage.json tcpinc_tools/wire

test: deps lint typecheck layers pytest

# The whole suite against the compiled build (setup.py: tcpinc_tools.build.NATIVE_MODULES
# through mypyc), in a copy of the tree: the .venv stays an editable, pure install. `make test`
# runs tests/integration/native, which compares the two builds' output on every capture.
NATIVE_TREE := build/native-tree
test-native: deps
	rm -rf $(NATIVE_TREE) && mkdir -p $(NATIVE_TREE)
	git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf - | tar -C $(NATIVE_TREE) -xf -
	cd $(NATIVE_TREE) && $(CURDIR)/$(BIN)/python setup.py -q build_ext --inplace >/dev/null
	cd $(NATIVE_TREE) && PYTHONPATH=$(CURDIR)/$(NATIVE_TREE) FUZZ_EXAMPLES=300 \
	  $(CURDIR)/$(BIN)/pytest -q -p no:cacheprovider tests

# The main job on a bundled capture: one full key exchange and two resumptions, decrypted.
demo: venv
	$(BIN)/tcpinc analyze --payload --keylog captures/resume.keys captures/resume.pcap

# Regenerate captures/ byte for byte (tests/integration/test_gen_corpus.py checks they match).
captures: venv
	$(BIN)/python -m tcpinc_tools.commands.corpus captures

clean:
	rm -rf $(VENV) build .mypy_cache .ruff_cache .pytest_cache .hypothesis .coverage .coverage.json
