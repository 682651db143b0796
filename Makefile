VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.maskray-installed

.PHONY: setup run test test-fast browser
setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt scripts/setup.sh
	VENV=$(VENV) bash scripts/setup.sh
	touch $@

run: setup
	$(VENV)/bin/maskray run studies/quickstart.yaml

browser:
	bash scripts/install_browser.sh

test: setup browser
	$(PY) -m pytest -q

# the edit-test loop: everything but the real Ray studies (make test runs all)
test-fast: setup
	$(PY) -m pytest -q -m "not slow and not faults"
