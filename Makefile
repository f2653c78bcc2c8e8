# The two commands: `make run` and `make test`. Everything else supports them.
VENV := .venv
BIN := $(VENV)/bin
PYTHON := $(BIN)/python

.PHONY: run test lint typecheck pytest bench browser-deps messages clean

$(VENV)/.installed: requirements-dev.lock pyproject.toml
	@test -x $(PYTHON) || $$(scripts/find-python) -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -r requirements-dev.lock
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $@

# The development configuration of this checkout: every `autommate` command run here reads it.
# Written once; edit it, or delete it to have it written again.
.env:
	@printf '%s\n' \
	  "# Development settings of this checkout, written by make run (see the README, Configuration)." \
	  "AUTOMMATE_DEBUG=1" \
	  "AUTOMMATE_VAR_DIR=$(CURDIR)/var" \
	  "AUTOMMATE_SECRET_KEY_FILE=$(CURDIR)/var/secret_key" > $@
	@echo "Wrote .env (debug on) for the autommate commands of this checkout."

run: $(VENV)/.installed .env
	AUTOMMATE_DEBUG=$${AUTOMMATE_DEBUG:-1} $(BIN)/autommate setup
	AUTOMMATE_DEBUG=$${AUTOMMATE_DEBUG:-1} $(BIN)/autommate serve --dev-mail

browser-deps:
	@test -x /usr/bin/chromium || { \
	  echo "Installing Debian's chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

lint: $(VENV)/.installed
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports

typecheck: $(VENV)/.installed
	$(BIN)/mypy

pytest: $(VENV)/.installed browser-deps
	$(BIN)/pytest $(PYTEST_ARGS)

test: lint typecheck pytest

bench: $(VENV)/.installed
	$(PYTHON) -m bench

# The translation catalogues (German, Turkish): the project's, from the templates and the Python of
# every package but the three apps that keep their own, then each app's, then all compiled.
# Needs GNU gettext (msgfmt, xgettext); nothing else does. Run from inside each app, where -P keeps
# the app's selectors.py or secrets.py from hiding the standard library's.
LANGUAGES := -l de -l tr
AUTOMMATE_HERE := AUTOMMATE_ENV_FILE=/dev/null AUTOMMATE_DEBUG=1 AUTOMMATE_VAR_DIR=$(CURDIR)/var \
	PYTHONPATH=$(CURDIR)/src $(abspath $(PYTHON)) -P -m autommate
MAKEMESSAGES := $(AUTOMMATE_HERE) makemessages $(LANGUAGES) --no-obsolete --add-location file
APP_CATALOGUES := mailserver delivery audit

messages: $(VENV)/.installed
	cd src/autommate && $(MAKEMESSAGES) --ignore 'devmail/*' \
	  $(foreach app,$(APP_CATALOGUES),--ignore '$(app)/*.py')
	for app in $(APP_CATALOGUES); do \
	  mkdir -p src/autommate/$$app/locale && (cd src/autommate/$$app && $(MAKEMESSAGES)) || exit 1; \
	done
	cd src/autommate && $(AUTOMMATE_HERE) compilemessages

clean:
	rm -rf $(VENV) var/test* .pytest_cache .mypy_cache .ruff_cache
