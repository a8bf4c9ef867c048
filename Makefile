# The two set-up commands of the README are `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

# The browser phone's SIP library (JsSIP, from the npm registry as package-lock.json pins
# it), bundled into one script that hotline serves on its /phone page. node_modules and
# the bundle live in build/webphone/, never in the repository.
WEBPHONE       := build/webphone
WEBPHONE_STAMP := $(WEBPHONE)/.installed-stamp

.PHONY: run test lint bench fuzz screenshots system-deps sandbox webphone clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(WEBPHONE_STAMP): webphone/package.json webphone/package-lock.json
	@command -v npm >/dev/null || { echo "npm is missing: run make system-deps (Debian package npm)"; exit 1; }
	rm -rf $(WEBPHONE) && mkdir -p $(WEBPHONE)
	cp webphone/package.json webphone/package-lock.json $(WEBPHONE)/
	cd $(WEBPHONE) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	cd $(WEBPHONE) && npm run --silent build
	touch $@

webphone: $(WEBPHONE_STAMP)

# Debian packages on the host: debootstrap builds the sandbox, espeak-ng and sox make prompts,
# fonts-wqy-microhei draws Chinese in report charts, sip-tester (SIPp) calls the sandbox's
# SIP trunk in the tests and benchmarks, baresip-core (baresip without its GUI and video
# recommends) is the seat's SIP phone in the tests, openssl makes the certificate of the
# browser phones' WebSocket, chromium is the browser phone's browser in the tests. npm
# (installs the browser phone's SIP library) is needed as a command: a Node.js of
# another origin may bring its own. libpango-1.0-0, libpangoft2-1.0-0 and
# libharfbuzz-subset0 are what WeasyPrint (the quarterly report's PDF) loads at run time
# (its documentation's list for Debian); poppler-utils' pdftotext reads the PDF's text in
# the tests.
HOST_PACKAGES := debootstrap espeak-ng sox fonts-wqy-microhei sip-tester baresip-core openssl chromium \
                 libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 poppler-utils
system-deps:
	@missing=""; for p in $(HOST_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	command -v npm >/dev/null 2>&1 || missing="$$missing npm"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "missing Debian packages:$$missing (apt-get install them as root)"; exit 1; fi; fi

sandbox: $(STAMP) system-deps
	$(BIN)/hotline sandbox build

# Start the embedded Asterisk (building it the first time) and the service; Ctrl-C stops both.
run: sandbox $(WEBPHONE_STAMP)
	$(BIN)/hotline run --with-sandbox

# The whole suite, real-Asterisk tests included (they start their own Asterisk instance).
test: sandbox $(WEBPHONE_STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python -m bench

# The long AMI fuzz run (300,000 messages, a few minutes; not run by .ci/run): no
# exception escapes the gateway, structures stay bounded, memory comes back.
# The junk flood (both event queue sizes) and the AMI cuts (30 s half-open included) are
# in the suite.
fuzz: $(STAMP)
	$(BIN)/python -m bench.ami_fuzz --messages 300000

# The README's pictures of the staff pages (docs/screenshots/), taken by a script in
# Debian's chromium on the embedded Asterisk with a real call; not part of the suite.
screenshots: sandbox $(WEBPHONE_STAMP)
	$(BIN)/python -m pytest tests/screenshots.py -q

clean:
	rm -rf $(VENV) var $(WEBPHONE) .pytest_cache .mypy_cache .ruff_cache
