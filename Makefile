# TaxGuide: `make run` starts the assistant; `make test` runs every test. Both install what they need.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run run-cluster test train validate nlu-eval intent-eval bench bench-gateway bench-handoff bench-analytics demo-data eval kb-report clean

install: $(STAMP)

$(STAMP): requirements.lock requirements-nodeps.txt pyproject.toml scripts/bootstrap.sh
	bash scripts/bootstrap.sh
	touch $(STAMP)

run: install
	$(PY) -m scripts.stack run

run-cluster: install
	$(PY) -m scripts.cluster run

test: install
	bash scripts/test.sh

train: install
	$(PY) -m scripts.stack train

validate: install
	$(PY) -m knowledge validate

eval: install
	$(PY) -m knowledge evaluate --model "$$($(PY) -m scripts.stack model-path | tail -n 1)"

kb-report: install
	$(PY) -m knowledge report

nlu-eval: install
	$(PY) -m scripts.nlu_eval --folds 3

intent-eval: install
	$(PY) -m scripts.intent_eval

bench: install
	$(PY) -m knowledge bench
	$(PY) -m scripts.bench_actions
	$(MAKE) --no-print-directory bench-gateway bench-handoff bench-analytics

bench-gateway: install
	$(PY) -m scripts.bench_gateway

profile-gateway: install
	$(PY) -m scripts.profile_gateway

bench-handoff: install
	$(PY) -m scripts.bench_handoff

bench-analytics: install
	bash scripts/services.sh
	$(PY) -m scripts.bench_analytics

demo-data: install
	$(PY) -m bot.analytics.demo --conversations 2000

clean:
	rm -rf models results var .pytest_cache
