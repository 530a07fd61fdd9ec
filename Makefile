# Two entry points for a fresh machine: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test system demo bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,bench]'
	touch $(STAMP)

# Debian packages and servers the integration tests use (PostgreSQL, Postfix,
# Dovecot, tmux); idempotent and quick when everything is present.
system:
	bash tests/setup/system.sh

run: $(STAMP)
	$(BIN)/bouncedesk demo --if-missing
	$(BIN)/bouncedesk

test: $(STAMP) system
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q

bench: $(STAMP)
	for b in bench/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache
