# The two commands of the suite (README.md): `make run` and `make test`.
SHELL := /bin/bash
DATABASE ?= demo
DEMO_SIZE ?= 300

.PHONY: run test bootstrap database demo-data serve test-unit test-e2e bench translations

run: bootstrap database demo-data
	scripts/run.sh $(DATABASE)

test: bootstrap
	scripts/test.sh

bootstrap:
	scripts/bootstrap.sh

database: bootstrap
	.venv/bin/python -m ccsuite.database --database $(DATABASE)

demo-data: database
	.venv/bin/python -m ccsuite.demo --database $(DATABASE) --size $(DEMO_SIZE)
	.venv/bin/python -m ccsuite.demo_telephony --database $(DATABASE)

translations: bootstrap
	.venv/bin/python -m ccsuite.i18n check

bench: bootstrap
	scripts/bench.sh
