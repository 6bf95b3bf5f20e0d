# Two commands matter: `make up` (the local stack against a moto emulator) and `make test`.
# Everything else is a building block of those two or a convenience for one test layer.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV        := .venv
PYTHON      := $(VENV)/bin/python
STACK       ?= local
MOTO_PORT   := 5050
MOTO_DIR    := .moto
# The local stack keeps its state in the project, never in a shared backend.
LOCAL_BACKEND := file://$(CURDIR)/.pulumi-state
export PULUMI_CONFIG_PASSPHRASE ?= local-only-passphrase

.PHONY: help
help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(VENV)/.runtime-installed: requirements.txt
	@[ -x $(PYTHON) ] || python3 -m venv $(VENV)
	$(PYTHON) -m pip install -q -r requirements.txt
	@touch $@

# The Pulumi CLI is the user's own, or the pinned one make installs into build/pulumi/bin (never
# system-wide); the container engine is Docker, or podman's Docker-compatible socket, whose
# DOCKER_HOST the recipes read from $(TOOLS_ENV). local_stack/ does both, with the machine's python3.
export PATH := $(CURDIR)/build/pulumi/bin:$(PATH)
TOOLS_ENV := build/local-stack.env
# Messages name the command the user ran; up and preview build the image, down does not.
CALLER ?= make check-tools
up: CALLER := make up
preview: CALLER := make preview
down: CALLER := make down
up preview: ENGINE := --engine

.PHONY: check-tools
check-tools:
	@python3 -m local_stack.preflight --command "$(CALLER)" $(ENGINE) --env-file $(TOOLS_ENV)

.PHONY: emulator-start
emulator-start: $(VENV)/.runtime-installed ## Start moto (S3, IAM, Secrets Manager) on 127.0.0.1:5050
	@$(PYTHON) -m pip install -q "$$(grep '^moto' requirements-dev.txt)"
	@mkdir -p $(MOTO_DIR)
	@if [ -f $(MOTO_DIR)/pid ] && kill -0 "$$(cat $(MOTO_DIR)/pid)" 2>/dev/null; then \
	  echo "moto already running on 127.0.0.1:$(MOTO_PORT)"; \
	else \
	  nohup $(PYTHON) -m moto.server -H 127.0.0.1 -p $(MOTO_PORT) > $(MOTO_DIR)/moto.log 2>&1 & echo $$! > $(MOTO_DIR)/pid; \
	  for _ in $$(seq 50); do curl -fsS -o /dev/null http://127.0.0.1:$(MOTO_PORT)/moto-api/data.json && exit 0; sleep 0.2; done; \
	  echo "error: moto did not answer on 127.0.0.1:$(MOTO_PORT); see $(MOTO_DIR)/moto.log (is the port taken?)" >&2; exit 1; \
	fi

.PHONY: emulator-stop
emulator-stop: ## Stop the local moto (its data is in memory and goes with it)
	@if [ -f $(MOTO_DIR)/pid ]; then kill "$$(cat $(MOTO_DIR)/pid)" 2>/dev/null || true; rm -f $(MOTO_DIR)/pid; fi

.PHONY: up
up: check-tools $(VENV)/.runtime-installed emulator-start ## Run the local stack: the Pulumi CLI if missing, venv, emulator, pulumi up, the backend's files
	. ./$(TOOLS_ENV) && PULUMI_BACKEND_URL=$(LOCAL_BACKEND) pulumi stack select --create local
	. ./$(TOOLS_ENV) && PULUMI_BACKEND_URL=$(LOCAL_BACKEND) pulumi up --stack local --yes
	PULUMI_BACKEND_URL=$(LOCAL_BACKEND) $(PYTHON) -m backend_host.bundle --stack local
	@echo "The backend's files are in build/local/. Mount the bucket on this machine with:"
	@echo "  sudo python3 -m backend_host.host_mount --stack local"

.PHONY: preview
preview: check-tools $(VENV)/.runtime-installed emulator-start ## Preview the local stack with a diff
	. ./$(TOOLS_ENV) && PULUMI_BACKEND_URL=$(LOCAL_BACKEND) pulumi stack select --create local
	. ./$(TOOLS_ENV) && PULUMI_BACKEND_URL=$(LOCAL_BACKEND) pulumi preview --stack local --diff

.PHONY: down
down: check-tools ## Destroy the local stack, then stop the emulator (and podman's socket, if make started it)
	PULUMI_BACKEND_URL=$(LOCAL_BACKEND) pulumi destroy --stack local --yes
	$(MAKE) emulator-stop
	python3 -m local_stack.preflight --stop-engine

.PHONY: deps
deps: ## Install what the whole suite needs (apt packages as root, two virtualenvs)
	bash .ci/install-test-deps.sh all

.PHONY: test
test: deps ## Run every test layer and linter (what CI runs)
	$(PYTHON) -m pytest

# The unit and repository layers install only their virtualenvs: no root, no apt package.
.PHONY: test-unit
test-unit: ## Unit tests only: the program and its components under mocks, pure functions
	bash .ci/install-test-deps.sh unit
	$(PYTHON) -m pytest tests/unit

.PHONY: test-repo
test-repo: ## Repository rules only: linters, workflows, README, Makefile, Dockerfile
	bash .ci/install-test-deps.sh repo
	$(PYTHON) -m pytest tests/repo

.PHONY: test-integration
test-integration: deps ## Integration tests only: moto, FUSE, podman, compose
	$(PYTHON) -m pytest tests/integration

.PHONY: bench-deps
bench-deps: ## What the benchmarks need: the suite's, and the programs run in the mount
	bash .ci/install-test-deps.sh bench

.PHONY: bench
bench: bench-deps ## Run the benchmarks (the mount over a WAN, real programs in it, attach, image rotation) and print their tables
	$(PYTHON) -m benchmarks.mount_wan --host debian13
	$(PYTHON) -m benchmarks.mount_wan --host debian12 --skip-loopback
	$(PYTHON) -m benchmarks.mount_programs --host debian13
	$(PYTHON) -m benchmarks.mount_programs --host debian12
	$(PYTHON) -m benchmarks.attach_wan
	$(PYTHON) -m benchmarks.image_rotation
