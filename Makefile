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

.PHONY: help setup images up down stack-up stack-down test molecule test-images test-shs lint sanity build bench clean ee up-ee

help:
	@echo "make up       deploy SHS with site.yml through localcloud (the local Yandex Cloud API): https://127.0.0.1:8443"
	@echo "make down     remove the deployment (playbooks/destroy.yml) and stop localcloud"
	@echo "make stack-up / stack-down   the light stack without a cloud: PostgreSQL + two SHS on loopback (compose)"
	@echo "make test     lint + sanity + every test (what CI runs)"
	@echo "make lint     ansible-lint (production profile) + changelog lint (antsibull-changelog) + collection build"
	@echo "make sanity   ansible-test sanity on the collection as it ships (issue counts per test)"
	@echo "make ee       the AWX execution environment image filmopoisk/shs-ee (execution-environment.yml, ansible-builder)"
	@echo "make up-ee    run site.yml inside the EE the way AWX runs a job, against its own localcloud (docs/awx.md)"
	@echo "make bench    the SLA bench against make up's stack (docs/benchmarks.md; SCENARIOS=load,app-kill)"

setup:
	@tools/setup.sh

images: setup
	@$(VENV)/bin/python tools/images.py build

up: images
	ansible-playbook site.yml $(ANSIBLE_ARGS)

down: setup
	ansible-playbook playbooks/destroy.yml $(ANSIBLE_ARGS)
	ansible-playbook playbooks/localcloud.yml -e localcloud_state=absent $(ANSIBLE_ARGS)

stack-up: images
	ansible-playbook playbooks/local_stack.yml $(ANSIBLE_ARGS)

stack-down: setup
	ansible-playbook playbooks/local_stack.yml -e local_stack_state=absent $(ANSIBLE_ARGS)

lint: setup
	ansible-lint
	antsibull-changelog lint
	antsibull-changelog lint-changelog-yaml changelogs/changelog.yaml
	$(MAKE) --no-print-directory build

# ansible-test sanity from an ansible_collections/filmopoisk/shs copy under .run/sanity (tools/sanity.sh says why);
# make sanity SANITY_ARGS='--test pep8 plugins/modules/yc_network.py' runs one test on one file.
SANITY_ARGS ?=
sanity: setup
	tools/sanity.sh $(SANITY_ARGS)

build: setup
	ansible-galaxy collection build --force --output-path .run/dist .

test: images lint sanity
	$(VENV)/bin/python -m pytest --durations=15 $(PYTEST_ARGS)
	$(MAKE) --no-print-directory molecule

# One scenario per role (molecule/<role>): COI nodes booted from the metadata the roles render.
molecule: images
	cd $(CURDIR) && started=$$(date +%s) && for s in $(MOLECULE_SCENARIOS); do \
	  t=$$(date +%s); molecule test -s $$s || exit 1; echo "molecule $$s passed in $$(( $$(date +%s) - t )) s"; \
	done && echo "molecule: $(MOLECULE_SCENARIOS) passed in $$(( $$(date +%s) - started )) s"

# The SLA bench (bench/, docs/benchmarks.md) against the stack `make up` deployed: make bench SCENARIOS=load,app-kill;
# BENCH_ARGS='--db-full' adds the full-scale database step, '--url URL' another entry point.
SCENARIOS ?=
BENCH_ARGS ?=
bench: images
	SCENARIOS='$(SCENARIOS)' $(VENV)/bin/python -m bench $(BENCH_ARGS)

clean: down stack-down
	rm -rf .run/dist .pytest_cache

# The AWX execution environment: the collection tarball + ansible-builder's context, built on the Debian base
# (python -m shs_ee.build; rebuilt only when an input changed).
ee: setup
	$(VENV)/bin/python -m shs_ee.build build

# site.yml run inside the EE the way AWX runs a job (shs_ee.up_ee: images job, deploy job twice), against a localcloud
# of its own (.run/ee/localcloud; the LB on 127.0.0.1:18443). make up-ee EE_ARGS=--down removes it.
EE_ARGS ?=
up-ee: images
	$(VENV)/bin/python -m shs_ee.up_ee $(EE_ARGS)
