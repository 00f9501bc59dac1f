# TaxGuide: `make run` starts the assistant; `make test` runs every test. Both install what they need.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run test train validate nlu-eval bench bench-gateway bench-handoff bench-analytics demo-data eval kb-report clean

install: $(STAMP)

$(STAMP): requirements.lock requirements-nodeps.txt pyproject.toml scripts/bootstrap.sh
	bash scripts/bootstrap.sh
	touch $(STAMP)

run: install
	$(PY) scripts/stack.py run

test: install
	bash scripts/test.sh

train: install
	$(PY) scripts/stack.py train

validate: install
	$(PY) -m knowledge validate

eval: install
	PYTHONPATH=. $(PY) -m knowledge evaluate

kb-report: install
	PYTHONPATH=. $(PY) -m knowledge report

nlu-eval: install
	$(PY) scripts/nlu_eval.py --folds 3

bench: install
	PYTHONPATH=. $(PY) -m knowledge bench
	$(PY) scripts/bench_actions.py
	$(MAKE) --no-print-directory bench-gateway bench-handoff bench-analytics

bench-gateway: install
	$(PY) scripts/bench_gateway.py

bench-handoff: install
	PYTHONPATH=. $(PY) scripts/bench_handoff.py

bench-analytics: install
	bash scripts/services.sh
	PYTHONPATH=. $(PY) scripts/bench_analytics.py

demo-data: install
	PYTHONPATH=. $(PY) -m bot.analytics.demo --conversations 2000

clean:
	rm -rf models results var .pytest_cache
