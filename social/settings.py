"""Settings for the social network backend.

Everything comes from the environment, read once here (see `.env.example` and the README's
configuration table). The defaults are the embedded quick start: SQLite, in-memory channel
layer, local-memory cache and local media. Each service switches on when its variable is set.
"""

import ipaddress
import logging
from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote, urlsplit

import environ
from boto3.s3.transfer import TransferConfig
from botocore.config import Config as BotoConfig
from django.core.exceptions import ImproperlyConfigured
from redis.asyncio.retry import Retry as AsyncRedisRetry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.retry import Retry as RedisRetry

from social.ratelimit import SOCIAL_RATE_DEFAULTS, rate_parse, social_rates_parse

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    # Development only: `make run` supplies its own key; this keeps `DEBUG=1 manage.py ...` usable.
    SECRET_KEY = "dev-only-insecure-key-never-used-with-debug-off"

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_ALLOW_CREDENTIALS = True
CORS_URLS_REGEX = r"^/api/.*$"

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    # Before django.contrib.auth: its `changepassword` ends the user's sessions (accounts/management).
    "accounts",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "django_tasks",
    "django_tasks_db",
    "safety",
    "posts",
    "friends",
    "chats",
    "notifications",
    "moderation",
    "demo",
]

MIDDLEWARE = [
    "social.middleware.RequestLogMiddleware",
    "social.middleware.BodySizeLimitMiddleware",
    "social.middleware.PrivateAnswersMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "social.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "social.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "social.urls"
WSGI_APPLICATION = "social.wsgi.application"
ASGI_APPLICATION = "social.asgi.application"
# Both `/x` and `/x/` are routed explicitly, so no redirect is ever needed.
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

# --- Database -------------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DB_POOL = env.bool("DB_POOL", default=True)
# No request of this API needs a statement longer than seconds; a longer one holds a worker.
DB_STATEMENT_TIMEOUT_MS = env.int("DB_STATEMENT_TIMEOUT_MS", default=5000)
# The client's own limit on one wait for the server (social/postgresql/base.py, 3): a frozen
# server cannot enforce statement_timeout. A little past it, so a healthy server always answers
# first; well below gunicorn's 30 s worker timeout, so a hung query is a JSON 503, not a kill.
DB_QUERY_DEADLINE = env.float("DB_QUERY_DEADLINE", default=DB_STATEMENT_TIMEOUT_MS / 1000 + 1.0)
DB_CONNECT_TIMEOUT = env.int("DB_CONNECT_TIMEOUT", default=3)
# Off behind a pooler that cannot carry prepared statements (PgBouncer in transaction mode
# before 1.21): see social/postgresql/base.py.
DB_PREPARED_STATEMENTS = env.bool("DB_PREPARED_STATEMENTS", default=True)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's backend with a health check that polls the socket before it asks the server.
    DATABASES["default"]["ENGINE"] = "social.postgresql"
    options = DATABASES["default"].setdefault("OPTIONS", {})
    # A runaway query is cut off by the server instead of holding a worker forever.
    options["options"] = f"-c statement_timeout={DB_STATEMENT_TIMEOUT_MS}"
    # A server that accepts but never answers (frozen, overloaded) fails the connect in
    # seconds (libpq's timeout covers the whole start-up), well below gunicorn's worker timeout.
    options["connect_timeout"] = DB_CONNECT_TIMEOUT
    # psycopg prepares nothing while prepare_threshold is None (Django's choice). A number lets
    # it prepare what asks to be: only social.postgresql's PreparingCursor does; Django's own
    # cursors bind parameters on the client and are never prepared.
    options["prepare_threshold"] = 0 if DB_PREPARED_STATEMENTS else None
    if DB_POOL:
        # psycopg's pool: right for daphne, whose threads come and go. Django refuses
        # CONN_MAX_AGE != 0 together with a pool.
        options["pool"] = {
            "min_size": env.int("DB_POOL_MIN", default=1),
            "max_size": env.int("DB_POOL_MAX", default=10),
            # Waiting for a free pooled connection ends well before the worker timeout and
            # daphne's handshake timeout (past it nginx answers the socket 502): a JSON 503 or
            # a close 4503 instead.
            "timeout": env.float("DB_POOL_TIMEOUT", default=3.0),
        }
        DATABASES["default"]["CONN_MAX_AGE"] = 0
        # The pool checks a connection before it hands it out (social.postgresql.pool_check:
        # a poll, and psycopg's check_connection only when the socket has something to say):
        # after a server restart a pooled connection is dead, and would fail the request or
        # socket handshake that got it.
        DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    else:
        # Sync workers (gunicorn) keep one persistent connection each.
        DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=300)
        DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded default under a few concurrent writers (daphne runs views in threads): a
    # deferred transaction that reads, then writes, cannot wait for the lock and fails at once
    # with "database is locked". IMMEDIATE takes the write lock at BEGIN, where SQLite waits
    # up to `timeout` seconds for it; WAL lets readers go on meanwhile.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": env.int("SQLITE_BUSY_TIMEOUT", default=20),
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: channel layer and cache -----------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
REDIS_TIMEOUT = env.float("REDIS_TIMEOUT", default=2.0)
# After a Redis restart every pooled connection is dead: a command on one fails with "Connection
# closed by server" (redis-py 8 retries nothing by default here). Reconnect and retry twice,
# quickly; a timeout is not retried, so a frozen Redis still fails in REDIS_TIMEOUT.
REDIS_RETRY = {
    "backoff": ExponentialBackoff(cap=0.5, base=0.05),
    "retries": 2,
    "supported_errors": (RedisConnectionError,),
}
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            # channels_redis's, with a deadline on every call but the blocking receive.
            "BACKEND": "social.layer.DeadlineRedisChannelLayer",
            "CONFIG": {
                "send_timeout": env.float("CHANNEL_LAYER_SEND_TIMEOUT", default=REDIS_TIMEOUT),
                # socket_timeout=None: redis-py 8 defaults it to 5 s, which kills every idle
                # consumer's blocking receive after 5 s (channels_redis issue #422).
                # A connect still fails fast (REDIS_TIMEOUT).
                # max_connections: every handshake and disconnect borrows a connection for its
                # group_add/discard, so size the pool for bursts of sockets; past it redis-py
                # refuses ("Too many connections"), which the socket answers with close 4503.
                "hosts": [
                    {
                        "address": REDIS_URL,
                        "socket_timeout": None,
                        "socket_connect_timeout": REDIS_TIMEOUT,
                        "max_connections": env.int("CHANNEL_LAYER_MAX_CONNECTIONS", default=1000),
                        "retry": AsyncRedisRetry(**REDIS_RETRY),
                    }
                ],
                "capacity": env.int("CHANNEL_CAPACITY", default=1000),
                "expiry": 60,
                "group_expiry": 86400,
            },
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "social.cache.RedisCache",
            # Its own instance in production (compose): bounded with an LRU policy, apart from
            # the channel layer's, which must never evict.
            "LOCATION": env.str("CACHE_REDIS_URL", default="") or REDIS_URL,
            "KEY_PREFIX": "social",
            # Every cache call is short: a Redis that hangs fails it in seconds (JSON 503).
            "OPTIONS": {
                "socket_timeout": REDIS_TIMEOUT,
                "socket_connect_timeout": REDIS_TIMEOUT,
                "retry": RedisRetry(**REDIS_RETRY),
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Background tasks (django-tasks) -----------------------------------------------------------
# Work that must not hold a request, and retries (social/tasks.py). On PostgreSQL the database
# backend keeps the queue in the same transactions as the writes, and `manage.py db_worker`
# (started by `make serve` and compose) runs it; the embedded default runs tasks at once.
TASKS = {
    "default": {
        "BACKEND": env.str(
            "TASKS_BACKEND",
            default="django_tasks_db.DatabaseBackend"
            if DATABASES["default"]["ENGINE"] == "social.postgresql"
            else "django_tasks.backends.immediate.ImmediateBackend",
        )
    }
}
# First delay (seconds) before a stored-file deletion that failed is tried again; it doubles.
STORAGE_DELETE_RETRY_SECONDS = env.float("STORAGE_DELETE_RETRY_SECONDS", default=5.0)
# Rows of one kind a deleted account's purge removes per short transaction (accounts.tasks):
# what bounds how long it holds locks on other people's posts and chats.
ACCOUNT_PURGE_BATCH = env.int("ACCOUNT_PURGE_BATCH", default=500)

# --- Storage -----------------------------------------------------------------------------------
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(BASE_DIR / "media")))
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
AWS_STORAGE_BUCKET_NAME = env.str("AWS_STORAGE_BUCKET_NAME", default="")
S3_TIMEOUT = env.float("S3_TIMEOUT", default=2.0)
_static_backend = (
    "whitenoise.storage.CompressedManifestStaticFilesStorage"
    if not DEBUG and env.bool("STATIC_MANIFEST", default=True)
    else "django.contrib.staticfiles.storage.StaticFilesStorage"
)
if AWS_STORAGE_BUCKET_NAME:
    STORAGES = {
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": AWS_STORAGE_BUCKET_NAME,
                "endpoint_url": env.str("AWS_S3_ENDPOINT_URL", default="") or None,
                "access_key": env.str("AWS_ACCESS_KEY_ID", default="") or None,
                "secret_key": env.str("AWS_SECRET_ACCESS_KEY", default="") or None,
                "region_name": env.str("AWS_S3_REGION_NAME", default="") or None,
                "custom_domain": env.str("AWS_S3_CUSTOM_DOMAIN", default="") or None,
                "querystring_auth": env.bool("AWS_QUERYSTRING_AUTH", default=True),
                "addressing_style": env.str("AWS_S3_ADDRESSING_STYLE", default="") or None,
                "url_protocol": env.str("AWS_S3_URL_PROTOCOL", default="https:"),
                # Never overwrite an object: our names are random, a clash must not lose a file.
                "file_overwrite": False,
                "default_acl": None,
                # botocore waits 60 s per read and retries: a hung store would hold a request
                # past the worker timeout. Seconds instead, then a JSON 503.
                "client_config": BotoConfig(
                    connect_timeout=S3_TIMEOUT,
                    read_timeout=S3_TIMEOUT,
                    retries={"max_attempts": 2, "mode": "standard"},
                ),
                # Each save otherwise starts a transfer manager with threads of its own, for
                # one small object (a post image is ≤ 10 MB, its variants far less): measured
                # 12.1 → 7.5 ms of CPU per save, and a post saves three files. Uploads over
                # the multipart threshold (8 MB) send their parts one after another instead.
                "transfer_config": TransferConfig(use_threads=False),
            },
        },
        "staticfiles": {"BACKEND": _static_backend},
    }
else:
    STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": _static_backend},
    }

# --- Auth ----------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

ACCESS_TOKEN_LIFETIME = timedelta(minutes=15)
REFRESH_TOKEN_LIFETIME = timedelta(days=14)
# Rotation and blacklisting on refresh are ours (accounts.services.session_refresh), not
# simplejwt's refresh view, so its rotation flags would be inert here.
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": ACCESS_TOKEN_LIFETIME,
    "REFRESH_TOKEN_LIFETIME": REFRESH_TOKEN_LIFETIME,
    "UPDATE_LAST_LOGIN": False,
    "SIGNING_KEY": SECRET_KEY,
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
}
AUTH_COOKIE_ACCESS = "access_token"
AUTH_COOKIE_REFRESH = "refresh_token"
COOKIE_SECURE = env.bool("COOKIE_SECURE", default=not DEBUG)
AUTH_RATE_LIMIT = env.str("AUTH_RATE_LIMIT", default="20/min")
rate_parse(AUTH_RATE_LIMIT)  # a bad value stops the process now, not at the first login
# Per-user limits on what can harvest or spam (social/ratelimit.py, CONTRACT-NOTES "Privacy").
SOCIAL_RATE_LIMITS = social_rates_parse(env.str("SOCIAL_RATE_LIMITS", default=SOCIAL_RATE_DEFAULTS))
# Who reads a user's email (accounts/privacy.py): self (default), friends, everyone.
USER_EMAIL_VISIBILITY = env.str("USER_EMAIL_VISIBILITY", default="self")
if USER_EMAIL_VISIBILITY not in ("self", "friends", "everyone"):
    raise ImproperlyConfigured("USER_EMAIL_VISIBILITY must be self, friends or everyone.")
# Proxies in front of the app (social/client_ip.py): 0 when clients connect directly (make run),
# 1 behind the shape's nginx, 2 behind a TLS proxy in front of it.
NUM_PROXIES = env.int("NUM_PROXIES", default=0)
if NUM_PROXIES < 0:
    raise ImproperlyConfigured("NUM_PROXIES must be 0 or more.")

# --- Mail ----------------------------------------------------------------------------------------
# EMAIL_URL: `smtp://user:pass@host:port` (plain; `smtp+tls://` for STARTTLS), `smtps://…` (TLS
# from the start), or `console://` (the embedded default: mails are printed to the console).
# Django's SMTP backend sends them.
EMAIL_URL = env.str("EMAIL_URL", default="console://")
_email = urlsplit(EMAIL_URL)
if _email.scheme == "console":
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
elif _email.scheme in ("smtp", "smtps", "smtp+tls"):
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = _email.hostname or "localhost"
    EMAIL_PORT = _email.port or {"smtps": 465, "smtp+tls": 587}.get(_email.scheme, 25)
    EMAIL_HOST_USER = unquote(_email.username or "")
    EMAIL_HOST_PASSWORD = unquote(_email.password or "")
    EMAIL_USE_SSL = _email.scheme == "smtps"
    EMAIL_USE_TLS = _email.scheme == "smtp+tls"
    EMAIL_TIMEOUT = env.float("EMAIL_TIMEOUT", default=10.0)  # a hung mail server holds no worker forever
else:
    raise ImproperlyConfigured("EMAIL_URL is smtp://, smtps://, smtp+tls:// or console://.")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="noreply@localhost")
# The page of the client that asks for the new password: `{uid}` and `{token}` are filled in.
RESET_URL = env.str("RESET_URL", default="") or "http://localhost:8000/reset-password?uid={uid}&token={token}"
if "{uid}" not in RESET_URL or "{token}" not in RESET_URL:
    raise ImproperlyConfigured("RESET_URL must contain {uid} and {token}.")
# Seconds a password reset link works (Django's token generator reads it).
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT", default=3600)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.BearerAuthentication",
        "accounts.authentication.CookieAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["social.renderers.UTF8JSONRenderer"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "social.negotiation.ContentNegotiation",
    "DEFAULT_PARSER_CLASSES": [
        "social.parsers.JSONParser",
        "rest_framework.parsers.MultiPartParser",
        "rest_framework.parsers.FormParser",
    ],
    "EXCEPTION_HANDLER": "social.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "social.schema.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Social network API",
    "DESCRIPTION": "REST API of the social network. WebSocket protocol: see docs/websocket.md.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api",
    "PREPROCESSING_HOOKS": ["social.schema.drop_trailing_slash_twins"],
    # The docs are public (CONTRACT-NOTES), and a stale cookie must not hide them.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    # Swagger UI's files from this app's static files (drf-spectacular-sidecar), not a CDN: the
    # docs work offline and under the docs page's own Content-Security-Policy (social/schema.py).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # A name a generated SDK can read, instead of the generic "TypeEnum".
    "ENUM_NAME_OVERRIDES": {"NotificationTypeEnum": "notifications.models.Notification.Type"},
}

# --- Domain settings ------------------------------------------------------------------------
CHAT_MESSAGE_RATE = env.float("CHAT_MESSAGE_RATE", default=10.0)
CHAT_MESSAGE_BURST = env.int("CHAT_MESSAGE_BURST", default=20)
# Open sockets per user (EXTENSIONS.md §1): one more is accepted, told why, and closed with 4429.
# Each socket holds a slot that expires WS_SOCKET_SLOT_TTL seconds after its last refresh (every
# third of it), so a crashed process's sockets stop counting within that time.
WS_MAX_SOCKETS_PER_USER = env.int("WS_MAX_SOCKETS_PER_USER", default=20)
WS_SOCKET_SLOT_TTL = env.float("WS_SOCKET_SLOT_TTL", default=60.0)
# Presence (EXTENSIONS.md §2, friends/presence.py): each process refreshes its open sockets' users
# every PRESENCE_REFRESH_SECONDS; a presence not refreshed expires after PRESENCE_TTL_SECONDS (a
# process killed with SIGKILL: offline for profiles within that, announced within it plus half a
# refresh); a user goes offline PRESENCE_GRACE_SECONDS after their last socket closed (a quicker
# reconnect announces nothing).
PRESENCE_REFRESH_SECONDS = env.float("PRESENCE_REFRESH_SECONDS", default=20.0)
PRESENCE_TTL_SECONDS = env.float("PRESENCE_TTL_SECONDS", default=45.0)
PRESENCE_GRACE_SECONDS = env.float("PRESENCE_GRACE_SECONDS", default=10.0)
POST_LIKES_EMBEDDED = env.int("POST_LIKES_EMBEDDED", default=100)
# Members embedded in a chat object of the new chat paths (EXTENSIONS.md §2); the rest page
# through GET /api/chats/<id>/members.
CHAT_MEMBERS_EMBEDDED = env.int("CHAT_MEMBERS_EMBEDDED", default=100)
# Read receipts go to the other members only in chats up to this size (EXTENSIONS.md §1).
READ_RECEIPTS_MAX_MEMBERS = env.int("READ_RECEIPTS_MAX_MEMBERS", default=50)
# Read notifications older than this go with `manage.py notifications_prune` (a daily cron).
NOTIFICATIONS_KEEP_DAYS = env.int("NOTIFICATIONS_KEEP_DAYS", default=90)
# Decoded pixels (every frame counted) allowed per uploaded image and per request (social/images.py).
IMAGE_MAX_PIXELS = env.int("IMAGE_MAX_PIXELS", default=40_000_000)
REQUEST_MAX_PIXELS = env.int("REQUEST_MAX_PIXELS", default=160_000_000)
# Encoded post objects kept per process for the post lists (posts/fragments.py), in bytes; 0
# turns the cache off. A post with 100 embedded likers encodes to about 15 KB, a plain one to 1 KB.
POST_CACHE_BYTES = env.int("POST_CACHE_BYTES", default=32 * 1024 * 1024)
# The same encodings shared by every process through the cache's Redis, for this many seconds
# (an entry also goes when its presigned URLs' reuse window ends); 0 turns the sharing off, and
# without Redis it is off. A post is then encoded once for all workers, not once per worker.
POST_SHARED_CACHE_TTL = env.int("POST_SHARED_CACHE_TTL", default=1800 if REDIS_URL else 0)

# --- Recommended feed (posts/recommendations/; README "Recommended feed") ---------------------
# Signal weights: with equal ages, a friend's post outranks one friends liked, which outranks
# one popular among people with similar likes, which outranks one that is merely popular.
RECO_WEIGHT_FRIEND = env.float("RECO_WEIGHT_FRIEND", default=8.0)
RECO_WEIGHT_FRIEND_LIKED = env.float("RECO_WEIGHT_FRIEND_LIKED", default=4.0)
RECO_WEIGHT_SIMILAR = env.float("RECO_WEIGHT_SIMILAR", default=2.0)
RECO_WEIGHT_POPULAR = env.float("RECO_WEIGHT_POPULAR", default=1.0)
# Every candidate's base score, so posts no signal favours still rank by freshness.
RECO_WEIGHT_FRESH = env.float("RECO_WEIGHT_FRESH", default=0.25)
# Popularity = likes + RECO_VIEW_WEIGHT × views (a view is cheaper than a like).
RECO_VIEW_WEIGHT = env.float("RECO_VIEW_WEIGHT", default=0.1)
# Time decay: a post's score halves every RECO_HALF_LIFE_HOURS of age. Changing this or
# RECO_VIEW_WEIGHT needs `manage.py refresh_post_scores` (Post.hot_score is precomputed).
RECO_HALF_LIFE_HOURS = env.float("RECO_HALF_LIFE_HOURS", default=24.0)
# Multipliers that push down (never remove) posts the caller viewed or liked, and their own.
RECO_SEEN_PENALTY = env.float("RECO_SEEN_PENALTY", default=0.2)
RECO_OWN_PENALTY = env.float("RECO_OWN_PENALTY", default=0.1)
# At most this many posts of one author in any page-long stretch of a walk.
RECO_AUTHOR_CAP = env.int("RECO_AUTHOR_CAP", default=2)
# Size of each candidate pool (friends' posts, friend-liked, similar taste, popular).
RECO_CANDIDATES = env.int("RECO_CANDIDATES", default=500)
# Social signals look at posts of the last RECO_WINDOW_DAYS (older ones have decayed away).
RECO_WINDOW_DAYS = env.int("RECO_WINDOW_DAYS", default=14)
# A walk's ranked snapshot lives this long in the shared cache after its last page was read.
RECO_SNAPSHOT_TTL = env.int("RECO_SNAPSHOT_TTL", default=3600)
# Bounds of the snapshots (posts/recommendations.py): post ids per walk (16 bytes each; the walk
# ends there) and walks kept per viewer (a new one replaces the viewer's oldest).
RECO_SNAPSHOT_MAX_POSTS = env.int("RECO_SNAPSHOT_MAX_POSTS", default=500)
RECO_SNAPSHOTS_PER_USER = env.int("RECO_SNAPSHOTS_PER_USER", default=5)
# A viewer's ranking serves their first pages this long (seconds) before a background task
# (posts.tasks.recommended_refresh) ranks anew; unused for 5 × this long, it is dropped and the
# next first page ranks in the request. 0: every first page ranks.
RECO_RANKING_TTL = env.int("RECO_RANKING_TTL", default=60)
# The similar-taste signal (the heavy one) is kept per viewer this long (seconds; 0: never).
RECO_TASTE_TTL = env.int("RECO_TASTE_TTL", default=300)
if RECO_HALF_LIFE_HOURS <= 0 or RECO_AUTHOR_CAP < 1 or RECO_CANDIDATES < 1 or RECO_WINDOW_DAYS < 1:
    raise ImproperlyConfigured("RECO_HALF_LIFE_HOURS, RECO_AUTHOR_CAP, RECO_CANDIDATES, RECO_WINDOW_DAYS must be > 0.")
if not (0 < RECO_SEEN_PENALTY <= 1 and 0 < RECO_OWN_PENALTY <= 1):
    raise ImproperlyConfigured("RECO_SEEN_PENALTY and RECO_OWN_PENALTY must be in (0, 1].")
# --- End of recommended feed -------------------------------------------------------------------

# --- Health and outages ------------------------------------------------------------------------
# /api/health waits this long (seconds) for all its checks together (social/health.py).
HEALTH_CHECK_TIMEOUT = env.float("HEALTH_CHECK_TIMEOUT", default=0.5)
# Retry-After (seconds) of the JSON 503 an outage answers (social/outages.py).
OUTAGE_RETRY_AFTER = env.int("OUTAGE_RETRY_AFTER", default=5)

# --- Limits ----------------------------------------------------------------------------------
# Non-file request data (JSON bodies, form fields). Multipart files are bounded per route by
# social.middleware.BodySizeLimitMiddleware.
DATA_UPLOAD_MAX_MEMORY_SIZE = 256 * 1024
DATA_UPLOAD_MAX_NUMBER_FIELDS = 1000
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

# --- HTTP security -------------------------------------------------------------------------
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
# Health probes (compose's healthchecks, load balancers) ask over plain HTTP on the inside.
SECURE_REDIRECT_EXEMPT = [r"^api/health"]
# Behind the proxy of the production shape (NUM_PROXIES >= 1), X-Forwarded-Proto is always the
# proxy's word: nginx sets the scheme it served, or passes on the TLS proxy's in front of it
# (deploy/nginx.conf.template). So NUM_PROXIES alone says whether to trust it.
_proxy_ssl_header = env.str(
    "SECURE_PROXY_SSL_HEADER", default="HTTP_X_FORWARDED_PROTO,https" if NUM_PROXIES > 0 else ""
)
if _proxy_ssl_header:
    # "HTTP_X_FORWARDED_PROTO,https"
    name, _, value = _proxy_ssl_header.partition(",")
    SECURE_PROXY_SSL_HEADER = (name.strip(), value.strip() or "https")
# HSTS goes only on answers to requests the app holds secure (HTTPS, or the proxy's
# X-Forwarded-Proto: https), never over plain HTTP: so it is on by default wherever TLS is in
# front. Subdomains and preloading commit more than this app, so they are the operator's choice.
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_SECURE = COOKIE_SECURE
CSRF_COOKIE_SECURE = COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_FAILURE_VIEW = "social.errors.csrf_failure"

# --- I18N ----------------------------------------------------------------------------------
LANGUAGE_CODE = "ru"
# Our catalogue first: the Russian for messages DRF's own catalogue lacks (locale/ru/…/django.po).
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Observability (README "Operations") ------------------------------------------------------
# Prometheus metrics at /api/metrics (social/metrics.py). Off: no per-request counting and the
# path answers 404 (what `make bench` compares against).
METRICS_ENABLED = env.bool("METRICS_ENABLED", default=True)
# Who may scrape: client addresses (judged with NUM_PROXIES, like the rate limits) ...
METRICS_ALLOWED_CIDRS = env.list("METRICS_ALLOWED_CIDRS", default=["127.0.0.0/8", "::1/128"])
# ... or anyone with `Authorization: Bearer <METRICS_TOKEN>` (empty: no token accepted).
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
try:
    for _cidr in METRICS_ALLOWED_CIDRS:
        ipaddress.ip_network(_cidr, strict=False)
except ValueError as error:
    raise ImproperlyConfigured(f"METRICS_ALLOWED_CIDRS: {error}") from None

# Errors to Sentry when SENTRY_DSN is set; absent, sentry_sdk is not even imported.
SENTRY_DSN = env.str("SENTRY_DSN", default="")
if SENTRY_DSN:
    from social.sentry import sentry_init

    sentry_init(
        dsn=SENTRY_DSN,
        environment=env.str("SENTRY_ENVIRONMENT", default="production"),
        traces_sample_rate=env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0),
    )

# --- Logging: one line per request, never a secret --------------------------------------------
# LOG_FORMAT=json: one JSON object per line (social/logs.py); the default is the readable line.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured("LOG_FORMAT must be 'plain' or 'json'.")
if LOG_FORMAT == "json":
    # Python's warnings too become log records (logger py.warnings), not raw stderr lines.
    logging.captureWarnings(True)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "social.logs.RequestIdFilter"}},
    # Control characters of a message (a `%0a` in a path) are escaped: no forged log lines.
    # The JSON lines escape them by being JSON.
    "formatters": {
        "plain": {"()": "social.logsafe.SafeFormatter", "format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "social.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["request_id"]},
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # Our own request line replaces these (which would print query strings).
        "django.server": {"level": "WARNING"},
        "django.request": {"level": "ERROR"},
    },
}
