# The two commands that matter: `make run` and `make test`. Both install what they need first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test install lint stop migrations-check superuser clean-data bench-memories \
	bench-extraction bench-chat

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(PY) manage.py serve --host $(HOST) --port $(PORT)

# The suite runs on the in-process fallbacks; Redis-backed tests use TEST_REDIS_URL (from
# REDIS_URL when given) and are skipped, saying why, when it does not answer.
test: lint
	TEST_REDIS_URL="$${TEST_REDIS_URL:-$${REDIS_URL:-redis://127.0.0.1:6379/0}}" REDIS_URL= \
		$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

migrations-check: $(STAMP)
	$(PY) manage.py makemigrations --check --dry-run

# Search latency and recall at 100k and 1M rows, and ingest throughput (long: see bench/README.md).
bench-memories: $(STAMP)
	$(PY) -m bench.memories_bench $(BENCH_ARGS)

# Time an extraction job spends outside the LLM, p50/p95 over 1,000 scripted conversations.
bench-extraction: $(STAMP)
	$(PY) -m bench.extraction_bench $(BENCH_ARGS)

# Time to first token and total time Engram adds to a streamed answer, SSE and WebSocket, at 1,
# 100 and 500 concurrent streams on one server process (needs Redis; see bench/README.md).
bench-chat: $(STAMP)
	$(PY) -m bench.chat_bench $(BENCH_ARGS)

superuser: $(STAMP)
	$(PY) manage.py createsuperuser

# Stops this checkout's `make run` (the pids it recorded), then the embedded database, which a
# crash or `kill -9` may have left running. Other checkouts' servers are left alone.
stop:
	-$(PY) scripts/stop_serve.py .data
	-$(PY) scripts/stop_embedded_db.py .data/pg

clean-data: stop
	rm -rf .data staticfiles
