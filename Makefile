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

# The main job on the embedded data: synthetic cohort -> IWG outcomes -> analytics -> model (with external
# validation on a second synthetic cohort) -> each example patient's report with the model's prediction.
DEMO_N ?= 4000
demo: setup
	@rm -rf $(DEMO) && mkdir -p $(DEMO)/reports
	$(BIN)/sleitp synth --patients $(DEMO_N) --seed 1 --out $(DEMO)/cohort
	$(BIN)/sleitp cohort derive $(DEMO)/cohort/tables --out $(DEMO)/derived
	$(BIN)/sleitp cohort landmarks $(DEMO)/cohort/tables $(DEMO)/derived --days 3,7,14
	$(BIN)/sleitp cohort table1 $(DEMO)/derived --html $(DEMO)/table1.html
	$(BIN)/sleitp cohort cif $(DEMO)/derived --png $(DEMO)/time_to_response.png --html $(DEMO)/time_to_response.html
	$(BIN)/sleitp cohort associations $(DEMO)/derived --html $(DEMO)/associations.html --png $(DEMO)/forest.png
	$(BIN)/sleitp train $(DEMO)/derived --outcome first_line_response --out $(DEMO)/model --bootstrap 200 \
	  --landmark-days 3,7,14
	$(BIN)/sleitp synth --patients $(DEMO_N) --seed 2 --out $(DEMO)/cohort-external
	$(BIN)/sleitp cohort derive $(DEMO)/cohort-external/tables --out $(DEMO)/derived-external
	$(BIN)/sleitp cohort landmarks $(DEMO)/cohort-external/tables $(DEMO)/derived-external --days 3,7,14
	$(BIN)/sleitp validate $(DEMO)/model $(DEMO)/derived-external
	$(BIN)/sleitp predict $(DEMO)/model $(DEMO)/derived-external --out $(DEMO)/predictions-external.parquet
	@for f in examples/*.json; do n=$$(basename $$f .json); \
	  $(BIN)/sleitp assess $$f --model $(DEMO)/model --html $(DEMO)/reports/$$n.html --pdf $(DEMO)/reports/$$n.pdf \
	    > $(DEMO)/reports/$$n.txt || exit 1; echo "report: $(DEMO)/reports/$$n.html"; done
	$(BIN)/sleitp assess examples/01_newly_diagnosed_wet_purpura.json --model $(DEMO)/model
	$(BIN)/sleitp assess examples/08_day8_of_prednisone.json --model $(DEMO)/model | sed -n '/^Prediction/,+3p'
	@echo "Demo outputs in $(DEMO)/: cohort, derived outcomes, table1.html, forest.png, time_to_response.png|html (cumulative incidence, next line competing),"
	@echo "model/card.html (the model card; model/landmark-*/ the landmark models), predictions-external.parquet,"
	@echo "reports/*.html and *.pdf (one per example patient; 08 uses the landmark day 7 model)."

# Chromium for the browser tests (Debian package; installed once, as root, when missing).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "warning: could not install chromium; browser tests will be skipped"; \
	  else echo "warning: chromium missing and cannot install it; browser tests will be skipped"; fi; }

test: setup browser lint
	SPARK_LOCAL_IP=127.0.0.1 $(BIN)/python -m pytest -n 2 -q

# Lint (ruff check; CI runs it through `make test`). No `ruff format --check`: the tree is not
# format-clean as a whole (hand-wrapped code), so the formatter is not enforced.
lint: setup
	$(BIN)/ruff check src tests benchmarks

# Benchmarks print their figures with a same-run baseline; not part of the tests (docs in README).
bench: setup
	$(BIN)/python benchmarks/bench_synth.py
	$(BIN)/python benchmarks/bench_derive.py
	$(BIN)/python benchmarks/bench_fhir.py
	$(BIN)/python benchmarks/bench_model.py
	$(BIN)/python benchmarks/bench_predict.py
	$(BIN)/python benchmarks/bench_service.py

# The SQL on FHIR v2 suite's test_report.json, committed (docs/sql-on-fhir.md). `make test` writes the same
# report to build/sql-on-fhir/test_report.json for CI to publish.
.PHONY: sql-on-fhir-report
sql-on-fhir-report: setup
	$(BIN)/python -m sleitp.sqlonfhir.suite ../shared/data/sql-on-fhir-v2/tests --out docs/sql-on-fhir-test-report.json

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache spark-warehouse
