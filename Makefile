# Two commands a new user types (README): `make demo` and `make test`. Each sets up .venv from nothing.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)
DEMO := demo-output

.PHONY: setup demo test lint bench clean browser

setup: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check uv==0.13.9
	$(BIN)/uv pip install -q --python $(BIN)/python -r requirements.lock
	$(BIN)/uv pip install -q --python $(BIN)/python --no-deps -e .
	@rm -f $(VENV)/.installed-*; touch $@

# The main job on the embedded data: score every example patient.
demo: setup
	@mkdir -p $(DEMO)
	@for f in examples/*.json; do \
	  echo "== $$f"; $(BIN)/sleitp score $$f || exit 1; \
	done

# Chromium for the browser tests (Debian package; installed once, as root, when missing).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "warning: could not install chromium; browser tests will be skipped"; \
	  else echo "warning: chromium missing and cannot install it; browser tests will be skipped"; fi; }

test: setup browser
	SPARK_LOCAL_IP=127.0.0.1 $(BIN)/python -m pytest -n 2 -q

lint: setup
	$(BIN)/ruff check src tests

bench: setup
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache spark-warehouse
