# The two commands that matter: `make run` and `make test`. Both install what they need first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test install lint stop migrations-check superuser clean-data db-upgrade extension bench-memories \
	bench-extraction bench-chat bench-storage bench-dashboard bench-agents bench-retrieval bench-tasks \
	bench-web system-packages

$(STAMP): requirements.txt requirements-dev.txt requirements-mem0.txt clients/python/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --progress-bar off --disable-pip-version-check -r requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -r requirements-mem0.txt
	# The reference client of encrypted storage; the storage tests drive a live server with it.
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps \
		-e clients/python
	touch $(STAMP)

# Node packages, each folder from its own package-lock.json (Node.js and npm from the machine,
# Debian's nodejs and npm): the extension's eslint, the web app's htmx (and axe-core for its
# browser tests), and the real OpenID provider the sign-in tests run (testing/oidc.py).
EXTENSION := clients/browser-extension
EXTENSION_STAMP := $(EXTENSION)/node_modules/.installed
WEB_ASSETS := web/node_modules/.installed
OIDC_PROVIDER := testing/oidc_provider/node_modules/.installed
%/node_modules/.installed: %/package.json %/package-lock.json
	cd $* && npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(STAMP) $(EXTENSION_STAMP) $(WEB_ASSETS) $(OIDC_PROVIDER)

run: $(STAMP) $(WEB_ASSETS)
	$(PY) manage.py serve --host $(HOST) --port $(PORT)

# The suite runs on the in-process fallbacks; tests that need Redis start their own on a free port
# (a Redis already on the machine may be someone else's). TEST_WORKERS processes share the tests
# (pytest-xdist), each on its own clone of one migrated template database (testing/database.py).
TEST_WORKERS ?= 2
test: lint system-packages $(WEB_ASSETS) $(OIDC_PROVIDER)
	REDIS_URL= $(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile

# Debian packages the tests drive: Chromium for the browser tests (Playwright's own browser builds
# are downloads, which this project never makes), redis-server, which the Redis tests start on
# ports of their own, and npm, which installs the web app's assets (web/package-lock.json).
# Installed when apt-get can (root, CI); elsewhere those tests are skipped and say why.
SYSTEM_PACKAGES := chromium redis-server npm
system-packages:
	@missing="$$(for name in $(SYSTEM_PACKAGES); do command -v $$name >/dev/null || echo $$name; \
		done)"; [ -z "$$missing" ] || { [ "$$(id -u)" = 0 ] \
		&& command -v apt-get >/dev/null && apt-get update -qq \
		&& DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		$$missing >/dev/null; } || echo "not installed: $$missing (the tests that need it are skipped)"

lint: $(STAMP) $(EXTENSION_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	cd $(EXTENSION) && npm run --silent lint

# The browser extension, linted, as dist/engram-extension/ (load it unpacked) and a zip
# (docs/extension.md).
extension: $(STAMP) $(EXTENSION_STAMP)
	cd $(EXTENSION) && npm run --silent lint && PYTHON=$(abspath $(PY)) npm run --silent build

migrations-check: $(STAMP)
	$(PY) manage.py makemigrations --check --dry-run

# Search latency and recall at 100k and 1M rows, and ingest throughput (long: see bench/README.md).
bench-memories: $(STAMP)
	$(PY) -m bench.memories_bench $(BENCH_ARGS)

# Recall of semantic, keyword, hybrid search and a BM25 baseline per question type, tuning of the
# fusion and the relevance floor, search latency at a 6,000-memory user (see bench/README.md).
bench-retrieval: $(STAMP)
	$(PY) -m bench.retrieval_bench $(BENCH_ARGS)

# Time an extraction job spends outside the LLM, p50/p95 over 1,000 scripted conversations.
bench-extraction: $(STAMP)
	$(PY) -m bench.extraction_bench $(BENCH_ARGS)

# Time to first token and total time Engram adds to a streamed answer, SSE and WebSocket, at 1,
# 100 and 500 concurrent streams on one server process (needs Redis; see bench/README.md).
bench-chat: $(STAMP)
	$(PY) -m bench.chat_bench $(BENCH_ARGS)

# Upload and download MB/s and the server's RSS for 100 MB and 1 GB backups, on the filesystem
# and on S3 (a local moto server); see bench/README.md.
bench-storage: $(STAMP)
	$(PY) -m bench.storage_bench $(BENCH_ARGS)

# Render time of the operators' dashboard at 100k and 1M memories (see bench/README.md).
bench-dashboard: $(STAMP)
	$(PY) -m bench.dashboard_bench $(BENCH_ARGS)

# Orchestration overhead of an agent turn with three tool calls (p50/p95, outside the model),
# and the local router's accuracy and latency on bench/agents_router_set.tsv.
bench-agents: $(STAMP)
	$(PY) -m bench.agents_bench $(BENCH_ARGS)

# A user's tasks due today at 100k tasks per user and 1M in all, beside their memory list at the
# same scale (see bench/README.md).
bench-tasks: $(STAMP)
	$(PY) -m bench.tasks_bench $(BENCH_ARGS)

# Server time of the web app's memories list and search pages at a 100k-memory user, beside the
# API's own (see bench/README.md).
bench-web: $(STAMP) $(WEB_ASSETS)
	$(PY) -m bench.web_bench $(BENCH_ARGS)

superuser: $(STAMP)
	$(PY) manage.py createsuperuser

# Stops this checkout's `make run` (the pids it recorded), then the embedded database, which a
# crash or `kill -9` may have left running. Other checkouts' servers are left alone.
stop:
	-$(PY) scripts/stop_serve.py .data
	-$(PY) scripts/stop_embedded_db.py .data/pg

clean-data: stop
	rm -rf .data staticfiles

# An embedded database made by PostgreSQL 16 (pgserver, before the move to 18) into 18, data kept
# (scripts/upgrade_embedded_db.py; the old directory stays beside it as .data/pg-16).
db-upgrade: $(STAMP)
	$(PY) scripts/upgrade_embedded_db.py .data/pg
