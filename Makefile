# Archive Vault: `make demo` runs the vault with demo data, `make test` runs every test.
# Both set up everything they need (a virtualenv in .venv) on a fresh machine.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
BENCH_STAMP := $(VENV)/.bench-installed-stamp

.PHONY: demo serve test soak lint imports typecheck pytest bench clean-demo translations image load

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/archive-vault demo
	$(BIN)/archive-vault serve

serve: $(STAMP)
	$(BIN)/archive-vault serve

lint: $(STAMP) imports
	$(BIN)/ruff check vault audit tests bench
	$(BIN)/ruff format --check vault audit tests bench

# The import contracts of pyproject.toml ([tool.importlinter]), on this tree's code.
imports: $(STAMP)
	PYTHONPATH=$(CURDIR) $(BIN)/lint-imports --no-logo

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest

# The whole suite on every core (pytest-xdist); `make test` runs the short version of
# each soak (tests/soak.py): 7 min 27 s of tests, 8 min 17 s for all of .ci/run (its
# system packages already installed), on 2 idle Intel cores (2026-12-03, 1,672 tests);
# 12 min 05 s of tests on 2 idle AMD EPYC cores the same evening (1,694 tests; 3 workers
# took longer there: 13 min 22 s), 8 min 28 s to 11 min 29 s an hour later as the
# machine's speed moved. Idle workers steal queued tests (--dist worksteal), and the
# tests marked long go first, so that no core is left alone at the end: 6 min 29 s of
# tests on 2 idle AMD EPYC cores (2026-12-04, 1,696 tests), where the same machine took
# 7 min 20 s before (long tests first and the shared templates of tests/conftest.py).
test: $(STAMP)
	scripts/test-deps
	$(BIN)/pytest -n auto --dist worksteal
	$(MAKE) --no-print-directory lint typecheck

# The long runs: the killed key migration on every provider and database, the blob
# migration killed ten times, the 10,000-row
# import, 200 fuzzed requests per operation and role.
SOAK_TESTS := tests/integration/test_key_migration.py tests/integration/test_import_spreadsheet.py \
	tests/integration/test_property_input.py tests/integration/test_schemathesis.py \
	tests/integration/test_blob_stores.py
soak: $(STAMP)
	scripts/test-deps
	VAULT_SOAK=1 VAULT_FUZZ_EXAMPLES=200 $(BIN)/pytest -n auto $(SOAK_TESTS)

$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $(BENCH_STAMP)

# Every benchmark (wrk must be installed: apt-get install -y wrk). One of them, or quick:
# make bench BENCH_ARGS="--only pipeline"   make bench BENCH_ARGS=--quick
bench: $(BENCH_STAMP)
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean-demo:
	rm -rf var

# After changing a user-visible string: extract, then merge into the Chinese catalogue
# (new strings arrive empty and tests/integration/test_ui_i18n.py fails until translated).
# The .po is compiled in memory when the app starts: no .mo file is built or committed.
translations: $(STAMP)
	mkdir -p build
	$(BIN)/pybabel -q extract -F vault/web/babel.cfg -k _l -k lazy_gettext \
		-k pgettext:1c,2 -k npgettext:1c,2,3 -k lazy_pgettext:1c,2 --no-location \
		--sort-output -o build/messages.pot .
	$(BIN)/pybabel -q update -i build/messages.pot -d vault/web/translations -l zh_Hans \
		--no-fuzzy-matching --ignore-obsolete -w 100

# The container image (deploy/Dockerfile), built and started once with its health probes
# checked: podman and debootstrap from Debian (installed here if missing), a base image
# made from Debian's packages (no registry is needed; ~2.5 min the first time, then kept),
# the build (~1.5 min). Where no OCI runtime works (setrlimit refused, as on the CI
# machine) the image's filesystem is run read-only under chroot. Not part of make test.
image:
	command -v podman >/dev/null && command -v debootstrap >/dev/null || \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman buildah debootstrap runc
	ISOLATION=$${ISOLATION:-chroot} PIP_CERT=$${PIP_CERT:-} deploy/image-build.sh

# The full load run (10 minutes; tests/load/run.py): two app servers of 2 workers and an
# `archive-vault worker` (it alone seals) on PostgreSQL, locust's mix, then the checks (no
# error but the expected 403/409s, every consultation audited, the worker sealed it all,
# the chain verifies, the quota held) and RSS per process. Attachments in PostgreSQL's
# rows; `... -m tests.load.run --blob-store s3` for S3 on moto's emulator.
LOAD_SECONDS ?= 600
load: $(STAMP)
	scripts/test-deps
	PYTHONPATH=$(CURDIR) $(BIN)/python -m tests.load.run --duration $(LOAD_SECONDS)
