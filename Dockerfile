# Engram production image. Not built on our development machines (no Docker engine there):
# kept simple and checked by reading; see docs/running-it-for-real.md, "Docker".
FROM python:3.11-slim AS build
WORKDIR /build
COPY requirements.txt .
RUN pip wheel --no-cache-dir --wheel-dir /wheels -r requirements.txt

# The web app's browser assets (htmx) from web/package-lock.json; axe-core is for the tests only.
FROM node:20-slim AS assets
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM python:3.11-slim
ARG GIT_COMMIT=unknown
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    ENGRAM_ENV=production \
    GIT_COMMIT=${GIT_COMMIT} \
    ENGRAM_DATA_DIR=/data
RUN useradd --create-home --uid 10001 engram \
    && mkdir -p /data \
    && chown engram /data
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/* && rm -rf /wheels
WORKDIR /app
COPY --chown=engram . .
COPY --from=assets /web/node_modules web/node_modules
# collectstatic needs settings but no database: DATABASE_URL only has to parse here.
RUN SECRET_KEY=build-only DATABASE_URL=postgresql://build@localhost/build \
    python manage.py collectstatic --noinput -v0
USER engram
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2)"
CMD ["uvicorn", "config.asgi:application", "--host", "0.0.0.0", "--port", "8000", "--loop", "uvloop", "--http", "httptools", "--ws", "websockets-sansio", "--timeout-graceful-shutdown", "5"]
