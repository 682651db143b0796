VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.maskray-installed

.PHONY: setup run test
setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt scripts/setup.sh
	VENV=$(VENV) bash scripts/setup.sh
	touch $@

run: setup
	$(VENV)/bin/maskray run studies/quickstart.yaml

test: setup
	$(PY) -m pytest -q
