# Everyday commands. Every target creates the virtualenvs it needs (pinned dependencies), so a fresh clone works:
#   make local   run the API on http://127.0.0.1:$(PORT) with a built-in Logto stand-in (no AWS, no Docker)
#   make test    lint, template validation, unit + security + end-to-end tests
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV  := .venv
TOOLS := .venv-tools
PY    := $(VENV)/bin/python
TOOLS_PY := $(TOOLS)/bin/python
PORT ?= 3000
export AWS_DEFAULT_REGION ?= eu-west-1
export SAM_CLI_TELEMETRY := 0
export PYTHONDONTWRITEBYTECODE := 1

# $(call setting,NAME,default): a variable the user set (command line or environment), else the default. make's own
# built-in variables don't count: AS is predefined as the assembler, so `$(or $(AS),alice)` would never be alice.
setting = $(if $(filter default undefined,$(origin $1)),$2,$($1))
# The same, from the command line only: for names a shell may export for its own use (ENV is sh's start-up file).
argument = $(if $(filter command line,$(origin $1)),$($1),$2)

.PHONY: help venv tools test unit e2e lint format validate build local token invoke bench load chaos openapi clean

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) \
	  | awk -F':.*## ' -v port=$(PORT) '{gsub(/\$$\(PORT\)/, port, $$2); printf "  make %-10s %s\n", $$1, $$2}'

venv: ## app virtualenv (.venv): layer dependencies + test tools
	@scripts/venv.sh $(VENV) requirements-dev.txt constraints-dev.txt

tools: ## tools virtualenv (.venv-tools): SAM CLI (pins its own boto3/click, so kept apart)
	@scripts/venv.sh $(TOOLS) requirements-tools.txt constraints-tools.txt

test: lint validate ## everything CI runs: lint, sam validate --lint, cfn-lint, all tests
	$(PY) -m pytest

unit: venv ## tests without the local stack
	$(PY) -m pytest -m "not e2e"

e2e: venv tools ## end-to-end tests through the local API Gateway emulator
	$(PY) -m pytest -m e2e

lint: venv ## ruff (lint + format check) and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: venv ## apply ruff's formatting and safe fixes
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

validate: tools ## sam validate --lint and cfn-lint on template.yaml (offline)
	$(TOOLS)/bin/sam validate --lint --template template.yaml
	$(TOOLS)/bin/cfn-lint template.yaml

build: tools ## sam build (needs python3.13 for the python3.13 runtime)
	@py=$$(scripts/python.sh); case "$$py" in *3.13*) ;; *) echo "sam build needs python3.13 on PATH (found: $$py)"; exit 1;; esac; \
	  $${py% python3.13} $(TOOLS)/bin/sam build

local: venv tools ## run the API locally on http://127.0.0.1:$(PORT) [RESET=1] [VERBOSE=1] (Ctrl-C stops everything)
	@PYTHONPATH=. $(TOOLS_PY) -m local.serve --port $(PORT) --app-python $(PY) \
	  --reset='$(call setting,RESET,)' --verbose='$(call setting,VERBOSE,)'

token: venv ## mint a token from `make local`: make token KIND=org|org-api|global AS=alice [ORG=id] [SCOPES="a b"]
	@PYTHONPATH=. $(PY) -m local.mint '$(call setting,KIND,org)' --user '$(call setting,AS,alice)' \
	  $(if $(call setting,ORG,),--org '$(call setting,ORG,)',) $(if $(call setting,SCOPES,),--scopes '$(call setting,SCOPES,)',)

invoke: venv tools ## `sam local invoke` without Docker: make invoke FN=ListMembersFunction EVENT=events/list_members.json [ENV=env.json] [TOKEN=...]
	@PYTHONPATH=. $(TOOLS_PY) -m local.invoke '$(call setting,FN,)' --event '$(call setting,EVENT,)' --app-python $(PY) \
	  $(if $(call argument,ENV,),--env-vars '$(call argument,ENV,)',) $(if $(call setting,TOKEN,),--token '$(call setting,TOKEN,)',)

bench: venv ## authorizer and operation benchmarks (printed figures)
	PYTHONPATH=layers/common:. $(PY) bench/run.py

load: venv ## drive a running `make local` with concurrent requests (printed figures)
	PYTHONPATH=layers/common:. $(PY) bench/load.py --url http://127.0.0.1:$(PORT)

chaos: venv tools ## mixed workload through a fresh local stack at a 10 % Logto fault rate; prints the invariants (all 0)
	PYTHONPATH=layers/common:. $(PY) bench/chaos.py $(CHAOS_ARGS)

openapi: venv ## regenerate docs/openapi.json from the route table and models
	PYTHONPATH=layers/common $(PY) scripts/openapi.py

clean: ## remove virtualenvs, build output and local state
	rm -rf $(VENV) $(TOOLS) .aws-sam .local .pytest_cache .mypy_cache .ruff_cache
