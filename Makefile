# The two commands at the top of README.md. Both install everything first (idempotent).
.PHONY: setup demo test test-all selftest lint

setup:
	bash scripts/setup.sh

demo: setup
	.venv/bin/stormproof run scenarios/ examples/two-service/scenarios/ \
		examples/redis-cluster/scenarios/ -m "not slow"

test: setup
	.venv/bin/python -m pytest -m "not slow and not selftest and (not scenario or smoke)" --junitxml=reports/junit-tests.xml

test-all: setup
	.venv/bin/python -m pytest

selftest: setup
	.venv/bin/stormproof selftest

lint: setup
	.venv/bin/ruff check . && .venv/bin/ruff format --check .
