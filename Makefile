# Two commands for a newcomer: `make demo`, then `make test`. Everything lives inside the repo:
# .venv/ (Python packages), .airflow/ (Airflow home: SQLite metadata, LocalExecutor), .data/
# (warehouse, demo portfolio, run folders). All three are git-ignored.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_DATE ?= 2025-06-30

# Airflow's components start each other as `airflow ...`: the venv must be on PATH.
export PATH := $(CURDIR)/$(BIN):$(PATH)
export AIRFLOW_HOME := $(CURDIR)/.airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER := $(CURDIR)/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__CORE__EXECUTOR := LocalExecutor
export AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL := 10
export GX_ANALYTICS_ENABLED := False
export RECEIVABLES_HOME := $(CURDIR)
export RECEIVABLES_WAREHOUSE_URL ?= sqlite:///$(CURDIR)/.data/warehouse.db
export RECEIVABLES_LEDGER ?= $(CURDIR)/.data/demo/*FEC*.txt
export RECEIVABLES_CUSTOMERS ?= $(CURDIR)/.data/demo/customers.csv
export RECEIVABLES_BANK ?= $(CURDIR)/.data/demo/statement_*.camt053.xml
export RECEIVABLES_DISPUTES ?= $(CURDIR)/.data/demo/disputes.csv
export RECEIVABLES_PROMISES ?= $(CURDIR)/.data/demo/promises.csv
export RECEIVABLES_PAYMENT_PLANS ?= $(CURDIR)/.data/demo/payment_plans.csv

.PHONY: install demo test bench airflow lint clean

$(BIN)/.installed: requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $@

install: $(BIN)/.installed

$(AIRFLOW_HOME)/.migrated: $(BIN)/.installed
	mkdir -p $(AIRFLOW_HOME)
	$(BIN)/airflow db migrate > $(AIRFLOW_HOME)/db-migrate.log 2>&1 || (cat $(AIRFLOW_HOME)/db-migrate.log; exit 1)
	# one pool per provider caps the dispatch tasks (the scheduler never runs a task of a missing pool)
	$(BIN)/airflow pools set sendgrid 4 "SendGrid Mail Send" >> $(AIRFLOW_HOME)/db-migrate.log 2>&1
	$(BIN)/airflow pools set twilio 2 "Twilio Messages" >> $(AIRFLOW_HOME)/db-migrate.log 2>&1
	$(BIN)/airflow pools set print 2 "PDF rendering of print batches" >> $(AIRFLOW_HOME)/db-migrate.log 2>&1
	touch $@

demo: $(AIRFLOW_HOME)/.migrated
	$(BIN)/receivables db upgrade
	$(BIN)/receivables demo-data --out .data/demo --end $(DEMO_DATE)
	# the demo replays $(DEMO_DATE) as today, so its messages go to the file outbox (.data/outbox/)
	RECEIVABLES_TODAY=$(DEMO_DATE) $(BIN)/airflow dags test ar_collections_daily $(DEMO_DATE) > .data/demo-run.log 2>&1 \
		|| (tail -n 60 .data/demo-run.log; echo "the daily run failed: full log in .data/demo-run.log"; exit 1)
	@echo "daily run of ar_collections_daily for $(DEMO_DATE): success (Airflow log: .data/demo-run.log)"
	@$(BIN)/receivables summary --as-of $(DEMO_DATE)

test: $(BIN)/.installed
	$(BIN)/pytest -n 2 --dist loadgroup -q

bench: $(BIN)/.installed
	$(BIN)/python bench/ledger_load.py
	$(BIN)/python bench/cash_application.py
	$(BIN)/python bench/scoring.py
	$(BIN)/python bench/planning.py
	$(BIN)/python bench/rendering.py
	$(BIN)/python bench/email_dispatch.py
	$(BIN)/python bench/letters.py
	# the whole daily wave, medium portfolio (50k customers, 1M lines, 20k bank lines); the large one
	# (500k customers, 10M lines, 200k bank lines: ~11 minutes, plus ~1 minute to generate it once) only
	# with BENCH_LARGE=1; each stage's process is capped at the target's 16 GB
	$(BIN)/python bench/wave.py --size medium
	if [ -n "$(BENCH_LARGE)" ]; then $(BIN)/python bench/wave.py --size large --memory-limit-gb 16; fi

airflow: $(AIRFLOW_HOME)/.migrated
	@echo "Airflow UI on http://localhost:8080 - user admin, password printed below at first start and kept in"
	@echo "$(AIRFLOW_HOME)/simple_auth_manager_passwords.json.generated"
	$(BIN)/airflow standalone

lint: $(BIN)/.installed
	$(BIN)/python -m ruff check src dags plugins tests bench || echo "ruff is not installed: pip install ruff"

clean:
	rm -rf .data .airflow
