# filmopoisk.shs — the two commands a new machine needs are `make up` and `make test`.
# Every target installs what it needs first (tools/setup.sh, safe to re-run) and skips what is done.
SHELL := /bin/bash
VENV ?= $(CURDIR)/.venv
export PATH := $(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
PYTEST_ARGS ?=
MOLECULE_SCENARIOS ?= shs postgres watchdog openresty
# Extra ansible-playbook arguments for up/down, e.g. make up ANSIBLE_ARGS='-e local_stack_db_scale=full'
ANSIBLE_ARGS ?=

.PHONY: help setup images up down test molecule test-images test-shs lint build bench clean

help:
	@echo "make up       bring the stack up locally (PostgreSQL + two SHS instances on loopback)"
	@echo "make down     remove the local stack (data volume included)"
	@echo "make test     lint + every test (what CI runs)"
	@echo "make lint     ansible-lint (production profile) + collection build"
	@echo "make bench    SHS reference service throughput (figures, not a test)"

setup:
	@tools/setup.sh

images: setup
	@$(VENV)/bin/python tools/images.py build

up: images
	ansible-playbook playbooks/local_stack.yml $(ANSIBLE_ARGS)

down: setup
	ansible-playbook playbooks/local_stack.yml -e local_stack_state=absent $(ANSIBLE_ARGS)

lint: setup
	ansible-lint
	$(MAKE) --no-print-directory build

build: setup
	ansible-galaxy collection build --force --output-path .run/dist .

test: images lint
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)
	$(MAKE) --no-print-directory molecule

# One scenario per role (molecule/<role>): COI nodes booted from the metadata the roles render.
molecule: images
	cd $(CURDIR) && for s in $(MOLECULE_SCENARIOS); do molecule test -s $$s || exit 1; done

bench: images
	tests/bench/shs_reference_rps.sh

clean: down
	rm -rf .run/dist .pytest_cache
