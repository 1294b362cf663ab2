# The two commands at the top of README.md. Both install everything first (idempotent).
.PHONY: setup setup-containers demo test test-containers test-all selftest bench lint

setup:
	bash scripts/setup.sh

# Opt-in: podman, debootstrap, docker-compose and the local images (README, "Containers").
setup-containers: setup
	bash scripts/setup-containers.sh

demo: setup
	.venv/bin/stormproof run scenarios/ examples/two-service/scenarios/ \
		examples/redis-cluster/scenarios/ -m "not slow"

# The unit and integration tests, the smoke scenarios, and the container smoke
# (tests/harness/test_container_smoke.py: scripts/test-containers.sh --ci, which sets up podman
# and the images when missing and skips, saying why, when this machine cannot run containers).
test:
	STORMPROOF_PREPARE_CONTAINERS=1 bash scripts/setup.sh
	.venv/bin/python -m pytest -m "not slow and not selftest and (not scenario or smoke)" --junitxml=reports/junit-tests.xml

# The smoke scenarios on containers (after make setup-containers, or with DOCKER_HOST set);
# says why when it skips. ARGS replaces the selection, e.g. ARGS=scenarios/crash-payments.yaml
test-containers: setup
	bash scripts/test-containers.sh $(ARGS)

test-all: setup
	.venv/bin/python -m pytest

selftest: setup
	.venv/bin/stormproof selftest

# Every benchmark in one go (about 15 minutes); rewrites the table at the end of
# docs/performance.md. ARGS, e.g. ARGS="--only shop_throughput --no-write".
bench: setup
	.venv/bin/python bench/run_all.py $(ARGS)

lint: setup
	.venv/bin/ruff check . && .venv/bin/ruff format --check .
