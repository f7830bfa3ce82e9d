# Everyday commands. Every target creates the virtualenvs it needs (pinned dependencies), so a fresh clone works:
#   make local   run the API on http://127.0.0.1:$(PORT) with a built-in Logto stand-in (no AWS, no Docker)
#   make test    lint, template validation, unit + security + end-to-end tests
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV  := .venv
TOOLS := .venv-tools
PY    := $(VENV)/bin/python
TOOLS_PY := $(TOOLS)/bin/python
export PORT ?= 3000
export AWS_DEFAULT_REGION ?= eu-west-1
export SAM_CLI_TELEMETRY := 0
export PYTHONDONTWRITEBYTECODE := 1

# $(call setting,NAME,default): a variable the user set (command line or environment), else the default. make's own
# built-in variables don't count: AS is predefined as the assembler, so `$(or $(AS),alice)` would never be alice.
# The value is taken as typed ($(value)), and recipes hand it to the tools through
# exported variables ("$$NAME"), never pasted into the command line, so quotes and spaces in it are just text.
setting = $(if $(filter default undefined,$(origin $1)),$2,$(value $1))
# The same, from the command line only: for names a shell may export for its own use (sh's ENV, a TOKEN of your own).
argument = $(if $(filter command line,$(origin $1)),$(value $1),$2)
# Whether the user set it at all (SCOPES= asks for no scopes; no SCOPES asks for all the user's roles grant).
given = $(if $(filter default undefined,$(origin $1)),,yes)

.PHONY: help venv tools test unit e2e lint format validate build local token invoke bench load chaos openapi clean \
	iam-report build-check

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) \
	  | awk -F':.*## ' '{gsub(/\$$\(PORT\)/, ENVIRON["PORT"], $$2); printf "  make %-10s %s\n", $$1, $$2}'
	@echo
	@echo "  settings (command line or environment): PORT=3000 CONSOLE_PORT=3001 LOGTO_PORT=3002 (the stand-in's;"
	@echo "  0: any free port) LOCAL_DATA=.local ALLOWED_ORIGINS REAUTHORIZE_EVERY=300 CLEANUP_EVERY=60 LIVE_PERMISSIONS"
	@echo "  LOGTO_ENDPOINT (+ LOGTO_M2M_APP_ID, LOGTO_M2M_APP_SECRET, API_RESOURCE; LOGTO_SPA_APP_ID for the console):"
	@echo "  your own Logto instead of the stand-in"

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

build-check: venv tools ## sam build, then: native extensions for the template's architecture, handlers import from the artifact alone
	@$(TOOLS_PY) scripts/build_check.py

IAM_USAGE := .local/iam-usage.jsonl
iam-report: venv tools ## per function: what its role grants vs what the e2e tests used (runs them; REUSE=1: the last run's)
	@mkdir -p .local
	@if [ -z "$(filter 1 yes true on,$(call setting,REUSE,))" ]; then rm -f $(IAM_USAGE); \
	  LOCAL_IAM_USAGE="$(abspath $(IAM_USAGE))" $(PY) -m pytest -m e2e -q -p no:cacheprovider || exit 1; fi
	@PYTHONPATH=. $(PY) -m local.iam_report --usage $(IAM_USAGE)

local: export MAKE_RESET := $(call setting,RESET,)
local: export MAKE_VERBOSE := $(call setting,VERBOSE,)
local: venv tools ## run the API locally on http://127.0.0.1:$(PORT) [RESET=1] [VERBOSE=1] (Ctrl-C stops everything)
	@PYTHONPATH=. $(TOOLS_PY) -m local.serve --app-python $(PY) --reset="$$MAKE_RESET" --verbose="$$MAKE_VERBOSE"

token: export MAKE_KIND := $(call setting,KIND,org)
token: export MAKE_AS := $(call setting,AS,alice)
token: export MAKE_APP := $(call setting,APP,)
token: export MAKE_ORG := $(call setting,ORG,)
token: export MAKE_SCOPES := $(call setting,SCOPES,)
token: venv ## mint a token from `make local`: make token KIND=org|org-api|global AS=alice|APP=demo-m2m-app [ORG=id] [SCOPES="a b"]
	@PYTHONPATH=. $(PY) -m local.mint "$$MAKE_KIND" \
	  $(if $(call setting,APP,),--app "$$MAKE_APP",--user "$$MAKE_AS") $(if $(call setting,ORG,),--org "$$MAKE_ORG",) \
	  $(if $(call given,SCOPES),--scopes "$$MAKE_SCOPES",)

invoke: export MAKE_FN := $(call setting,FN,)
invoke: export MAKE_EVENT := $(call setting,EVENT,)
invoke: export MAKE_ENV := $(call argument,ENV,)
invoke: export MAKE_TOKEN := $(call argument,TOKEN,)
invoke: venv tools ## `sam local invoke` without Docker: make invoke FN=ListMembersFunction EVENT=events/list_members.json [ENV=env.json] [TOKEN=...]
	@PYTHONPATH=. $(TOOLS_PY) -m local.invoke "$$MAKE_FN" --event "$$MAKE_EVENT" --app-python $(PY) \
	  $(if $(call argument,ENV,),--env-vars "$$MAKE_ENV",) $(if $(call argument,TOKEN,),--token "$$MAKE_TOKEN",)

bench: venv ## authorizer and operation benchmarks (printed figures)
	PYTHONPATH=layers/common:. $(PY) bench/run.py

load: venv ## drive a running `make local` with concurrent requests (printed figures)
	PYTHONPATH=layers/common:. $(PY) bench/load.py --url "http://127.0.0.1:$$PORT"

chaos: venv tools ## mixed workload through a fresh local stack at a 10 % Logto fault rate; prints the invariants (all 0)
	PYTHONPATH=layers/common:. $(PY) bench/chaos.py $(CHAOS_ARGS)

openapi: venv ## regenerate docs/openapi.json from the route table and models
	PYTHONPATH=layers/common $(PY) scripts/openapi.py

clean: ## remove virtualenvs, build output and local state
	rm -rf $(VENV) $(TOOLS) .aws-sam .local .pytest_cache .mypy_cache .ruff_cache
