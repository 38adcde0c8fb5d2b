"""Parkway settings: one module, read from the environment (django-environ).

Defaults work on a laptop (SQLite, console email, DEBUG off but nothing that
needs a secret to start); production values are switched on by the environment.
Every variable is documented in `.env.example` and the README.
"""

import datetime
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# A `.env` beside manage.py is read when present; real environment variables win.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

# The insecure default only serves DEBUG; tenants.checks reports it otherwise.
INSECURE_SECRET_KEY = "django-insecure-parkway-development-only"
SECRET_KEY = env.str("SECRET_KEY", default=INSECURE_SECRET_KEY)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "portal.admin_site.ParkwayAdminConfig",  # django.contrib.admin, strict about ids on every page
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_q",
    "axes",
    "tenants",
    "scheduling",
    "notifications",
    "ninja",  # Swagger UI's files for /api/v1/docs, served from our static files
    "api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Outermost but one, so that every response gets the header, errors included.
    "portal.security.ContentSecurityPolicyMiddleware",
    # Every error answer of /api/ in the API's one error body (api/errors.py).
    "api.errors.ApiErrorBodyMiddleware",
    # Static files with DEBUG off (hashed names, compressed, cached for a year),
    # answered before sessions or the database are touched.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # /healthz, /readyz and /metrics: before host validation (a load balancer
    # probes by IP address), sessions and sign-in (portal/probes.py).
    "portal.probes.ProbeMiddleware",
    "portal.untrusted.RejectNulCharactersMiddleware",
    "portal.untrusted.DropForeignNextMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # After authentication: every time shown in the person's zone (portal/zones.py).
    "portal.zones.ViewerZoneMiddleware",
    "portal.security.StaffSessionMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

# django-axes first: it refuses a locked-out account or client before any password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

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
            # `|when`: times in the viewer's zone, labelled, on every page.
            "builtins": ["tenants.templatetags.zones"],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["ENGINE"] = "portal.sqlite_backend"
DATABASES["default"]["ATOMIC_REQUESTS"] = False
# --- Database connections (many worker machines) ---
# Persistent connections: django-q2's workers and the web processes reuse one
# connection per thread for CONN_MAX_AGE seconds instead of opening one per
# task or request (with 0, one idle cluster on the ORM broker opened ~5 new
# PostgreSQL connections a second). Health checks drop a connection the
# database closed (restart, failover) before it is used, not after a failure.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("CONN_HEALTH_CHECKS", default=True)
# A database or cache that does not answer fails fast (seconds, not the OS's
# minutes of TCP retries): /readyz says "not ready" within a probe's timeout,
# and a request or task gets an error it can report instead of hanging.
BACKEND_CONNECT_TIMEOUT = env.int("PARKWAY_CONNECT_TIMEOUT", default=5)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", BACKEND_CONNECT_TIMEOUT)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
# Times look the same in the admin as on the self-service pages (portal/zones.py).
FORMAT_MODULE_PATH = ["portal.formats"]
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
# --- Serving static files (whitenoise) ----------------------------------------
# `manage.py collectstatic` writes hashed, compressed copies to STATIC_ROOT and a
# manifest; pages link the hashed names, which whitenoise serves with a year-long
# cache header. With DEBUG on (make demo) pages link the plain names and
# runserver serves them from the app folders, so no collectstatic is needed there.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# The self-service pages (/app/) sign people in with Django's auth views.
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "tenants:overview"

# Holds the per-user throttle of connection tests. Local memory counts per
# process; point CACHE_URL at Redis (redis://…) to share the count between workers.
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
    _cache_options = CACHES["default"].setdefault("OPTIONS", {})
    _cache_options.setdefault("socket_connect_timeout", BACKEND_CONNECT_TIMEOUT)
    _cache_options.setdefault("socket_timeout", BACKEND_CONNECT_TIMEOUT)

# --- Mail (portal/mail.py) ---------------------------------------------------
# EMAIL_URL says how mail leaves (django-environ: smtp+tls://user:password@host:587,
# smtps://…, consolemail://); it is sent by the worker, never inside a request.
_email = env.email_url("EMAIL_URL", default="consolemail://" if DEBUG else "smtp://localhost:25")
PARKWAY_EMAIL_BACKEND = _email.pop("EMAIL_BACKEND")  # what the worker delivers with
globals().update({key: value for key, value in _email.items() if value not in (None, "")})  # EMAIL_HOST, EMAIL_PORT…
EMAIL_BACKEND = "portal.mail.BackgroundEmailBackend"
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Parkway <noreply@parkway.invalid>")

# Production hardening, on whenever DEBUG is off (overridable for a plain-HTTP
# staging box).
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_TLS_PROXY", default=False) else None
X_FRAME_OPTIONS = "DENY"
# Probes are answered over plain HTTP: load balancers and Prometheus reach the
# web server directly, and a redirect would not keep the metrics token off the
# wire anyway (it is sent with the first request).
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
# The Content-Security-Policy is portal.security's (a strict one, on every response).

# Customers' sessions: a persistent cookie of this many seconds (Django's default
# is 14 days). Staff sessions end when the browser closes, and after
# PARKWAY_STAFF_SESSION_SECONDS at the latest (portal.security.StaffSessionMiddleware).
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=12 * 3600)
PARKWAY_STAFF_SESSION_SECONDS = env.int("PARKWAY_STAFF_SESSION_SECONDS", default=8 * 3600)

# --- Logs (portal/logs.py) -------------------------------------------------------
# One JSON object per line on servers (PARKWAY_LOG_FORMAT=json, the default with DEBUG
# off), readable lines for people (text, the default with DEBUG on). Every line carries
# the tenant, account, parking run and task ids known when it was written, and goes
# through a filter that masks access key IDs and replaces secret-shaped strings.
PARKWAY_LOG_FORMAT = env.str("PARKWAY_LOG_FORMAT", default="text" if DEBUG else "json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "log_context": {"()": "portal.logs.LogContextFilter"},
        "redact": {"()": "portal.logs.RedactingFilter"},
    },
    "formatters": {
        "json": {"()": "portal.logs.JsonFormatter"},
        "text": {"()": "portal.logs.TextFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if PARKWAY_LOG_FORMAT == "json" else "text",
            "filters": ["log_context", "redact"],
        },
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # Django's own console handler (DEBUG only) would print its lines a second time.
        "django": {"level": "INFO", "handlers": []},
        "botocore": {"level": "WARNING"},
        "boto3": {"level": "WARNING"},
        # A refused AssumeRole is logged by botocore with a traceback before it
        # reaches us; tenants.aws turns it into a human message and records it.
        "botocore.credentials": {"level": "CRITICAL"},
    },
}

# --- Error reports (portal/sentry.py) -------------------------------------------
# Sentry is on only when SENTRY_DSN is set; no personal data, secrets scrubbed.
SENTRY_DSN = env.str("SENTRY_DSN", default="")
if SENTRY_DSN:
    from portal.sentry import sentry_init

    sentry_init(
        dsn=SENTRY_DSN,
        environment=env.str("SENTRY_ENVIRONMENT", default=""),
        release=env.str("SENTRY_RELEASE", default=""),
        traces_sample_rate=env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0),
    )

# --- Parkway ---------------------------------------------------------------

# Fernet keys (urlsafe base64, 32 bytes), comma-separated. The first encrypts,
# all decrypt; `manage.py rotate_encryption_keys` re-encrypts with the first.
PARKWAY_ENCRYPTION_KEYS = env.list("PARKWAY_ENCRYPTION_KEYS", default=[])

# The partition this deployment serves: roles cannot be assumed across
# partitions, so an ARN of another one is rejected up front.
PARKWAY_AWS_PARTITION = env.str("PARKWAY_AWS_PARTITION", default="aws")
# Our own AWS account: the principal customers' trust policies name.
PARKWAY_AWS_ACCOUNT_ID = env.str("PARKWAY_AWS_ACCOUNT_ID", default="")
PARKWAY_ROLE_NAME = env.str("PARKWAY_ROLE_NAME", default="ParkwayAccess")
# Where the CloudFormation template is published (for the console quick-create link).
PARKWAY_TEMPLATE_URL = env.str("PARKWAY_TEMPLATE_URL", default="")
# Legacy IAM-user access keys: existing ones keep working; new ones only while true.
PARKWAY_ALLOW_LEGACY_USERS = env.bool("PARKWAY_ALLOW_LEGACY_USERS", default=False)
# 3600 s: botocore refreshes when < 15 min remain, so 900 s would re-assume on every call.
PARKWAY_ASSUME_ROLE_SECONDS = env.int("PARKWAY_ASSUME_ROLE_SECONDS", default=3600)
PARKWAY_AWS_RETRY_MODE = env.str("PARKWAY_AWS_RETRY_MODE", default="standard")
PARKWAY_AWS_MAX_ATTEMPTS = env.int("PARKWAY_AWS_MAX_ATTEMPTS", default=5)
# The region used for calls that need one before the account's own regions are known.
PARKWAY_AWS_DEFAULT_REGION = env.str("PARKWAY_AWS_DEFAULT_REGION", default="us-east-1")
# Where customers reach the portal (links in emails); the self-service page is under /app/.
PARKWAY_PUBLIC_URL = env.str("PARKWAY_PUBLIC_URL", default="http://127.0.0.1:8000").rstrip("/")
# The last day legacy IAM-user keys are used (UTC). After it, plus PARKWAY_LEGACY_GRACE_DAYS,
# tenants.aws refuses to use them and accounts still on them are paused until switched to a role
# (tenants.sunset.legacy_keys_paused).
PARKWAY_LEGACY_DEADLINE = datetime.date.fromisoformat(env.str("PARKWAY_LEGACY_DEADLINE", default="2027-03-31"))
PARKWAY_LEGACY_GRACE_DAYS = env.int("PARKWAY_LEGACY_GRACE_DAYS", default=0)
# A self-service or admin registration that never passed a test is forgotten after this many
# hours; until it passes, the account ID is not claimed and blocks nobody.
PARKWAY_UNVERIFIED_ACCOUNT_HOURS = env.int("PARKWAY_UNVERIFIED_ACCOUNT_HOURS", default=72)
# A tenant admin's invitation link works this many days, once.
PARKWAY_INVITATION_DAYS = env.int("PARKWAY_INVITATION_DAYS", default=7)
# Parking: how often the tick runs, and the tag that names an instance's schedule.
PARKWAY_TICK_MINUTES = env.int("PARKWAY_TICK_MINUTES", default=5)
PARKWAY_SCHEDULE_TAG = env.str("PARKWAY_SCHEDULE_TAG", default="Schedule")
# A tick calls AWS for an account only when something is due (scheduling.due), or when its
# inventory is older than this: machines launched or retagged in AWS are noticed within it
# (per tenant: Tenant.inventory_minutes, set by staff in the admin).
PARKWAY_INVENTORY_MINUTES = env.int("PARKWAY_INVENTORY_MINUTES", default=60)
# Assumed-role sessions (with their clients, ~3 MB each) a worker process keeps, least
# recently used evicted first: a worker's memory is bounded whatever the number of accounts.
PARKWAY_SESSION_CACHE_SIZE = env.int("PARKWAY_SESSION_CACHE_SIZE", default=1000)
# Retention (manage.py prune_history, daily): parking runs and their actions are kept this many
# days, audit events this many (longer: they answer "who changed what" in a dispute or an audit).
PARKWAY_HISTORY_DAYS = env.int("PARKWAY_HISTORY_DAYS", default=90)
PARKWAY_AUDIT_DAYS = env.int("PARKWAY_AUDIT_DAYS", default=400)
# Self-service "Test connection" / "Switch" (each an AssumeRole): at most this many per user per minute.
PARKWAY_VERIFY_PER_MINUTE = env.int("PARKWAY_VERIFY_PER_MINUTE", default=5)
# Requests one API token may make: N/second, N/minute or N/hour (api/auth.py).
PARKWAY_API_RATE = env.str("PARKWAY_API_RATE", default="120/minute")

# --- Health and metrics (portal/health.py, portal/metrics.py) -----------------
# /readyz fails when the oldest task waiting in the queue is older than this
# (default: two ticks); the last tick must have finished within two ticks.
PARKWAY_READY_QUEUE_AGE_SECONDS = env.int("PARKWAY_READY_QUEUE_AGE_SECONDS", default=2 * 60 * PARKWAY_TICK_MINUTES)
# /metrics answers only with `Authorization: Bearer <this token>`; unset = 404.
PARKWAY_METRICS_TOKEN = env.str("PARKWAY_METRICS_TOKEN", default="")
# Parking runs, actions and AWS calls are reported over this many recent minutes.
PARKWAY_METRICS_WINDOW_MINUTES = env.int("PARKWAY_METRICS_WINDOW_MINUTES", default=60)
# SQLite serves one machine only: outside DEBUG it is refused (portal.E001) unless this is true.
PARKWAY_ALLOW_SQLITE = env.bool("PARKWAY_ALLOW_SQLITE", default=False)

# --- Sign-in lockout (django-axes, tenants/signin.py) ------------------------
# Failed sign-ins are counted in the database, so every web process shares the
# count. Either the username or the client address reaching the limit locks
# sign-ins for it until the cool-off has passed (each attempt during a lockout
# restarts it); staff unlock from the admin (Axes › Access attempts › Unlock).
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_FAILURE_LIMIT = env.int("PARKWAY_LOGIN_FAILURE_LIMIT", default=10)
# Password reset emails per address per hour (ten times as many per client address).
PARKWAY_PASSWORD_RESET_PER_HOUR = env.int("PARKWAY_PASSWORD_RESET_PER_HOUR", default=3)
AXES_COOLOFF_TIME = datetime.timedelta(minutes=env.int("PARKWAY_LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
# A successful sign-in must not clear the count: it would clear every username's
# failures from that address, and an attacker with an account of their own could reset it.
AXES_RESET_ON_SUCCESS = False
AXES_LOCKOUT_CALLABLE = "tenants.signin.signin_lockout_response"
AXES_CLIENT_IP_CALLABLE = "tenants.signin.signin_client_ip"
AXES_ENABLE_ADMIN = False  # tenants/admin.py registers the models with an audited "Unlock"
# Reverse proxies in front of Parkway that append the client's address to
# X-Forwarded-For (0: clients connect directly and REMOTE_ADDR is theirs).
PARKWAY_TRUSTED_PROXIES = env.int("PARKWAY_TRUSTED_PROXIES", default=0)

# --- Staff two-factor sign-in (django-otp, portal/staff_2fa.py) -----------------
# Off by default. On: the admin asks staff for a TOTP code (enrol with
# `manage.py staff_totp_enrol USERNAME`) and refuses sessions that have not given one.
PARKWAY_STAFF_2FA = env.bool("PARKWAY_STAFF_2FA", default=False)
INSTALLED_APPS += ["django_otp", "django_otp.plugins.otp_totp"]
MIDDLEWARE.insert(MIDDLEWARE.index("django.contrib.auth.middleware.AuthenticationMiddleware") + 1, "django_otp.middleware.OTPMiddleware")
OTP_ADMIN_HIDE_SENSITIVE_DATA = True  # the admin never shows a device's key or QR code
OTP_TOTP_ISSUER = "Parkway"

# --- Background worker (django-q2) -------------------------------------------
# The ORM broker needs nothing but the database; Redis is used when REDIS_URL is
# set. `retry` must exceed `timeout`, or a slow task is delivered twice.
REDIS_URL = env.str("REDIS_URL", default="")
Q_CLUSTER: dict = {
    "name": "parkway",
    "workers": env.int("Q_WORKERS", default=2),
    "timeout": env.int("Q_TIMEOUT", default=300),
    "retry": env.int("Q_RETRY", default=420),
    "max_attempts": env.int("Q_MAX_ATTEMPTS", default=2),
    "catch_up": False,
    # -1: successful results are not stored (failures always are). A positive
    # limit makes django-q2 lock every stored success (SELECT … FOR UPDATE) to
    # prune them, on every result: with many workers, results queue behind that
    # lock. Each account's tick is recorded by Parkway itself (ParkingLease's
    # last tick, ParkingRun).
    "save_limit": env.int("Q_SAVE_LIMIT", default=-1),
    "ack_failures": True,
    # Workers are replaced after this many tasks (memory); assumed-role
    # credentials live in the shared cache, so a new worker reuses them.
    "recycle": env.int("Q_RECYCLE", default=500),
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# --- Notifications (notifications/, portal/outbound.py) ----------------------
# Webhooks are never sent to loopback, private or link-local addresses unless
# this is true (the demo and tests, whose receivers run on 127.0.0.1).
PARKWAY_WEBHOOK_ALLOW_PRIVATE = env.bool("PARKWAY_WEBHOOK_ALLOW_PRIVATE", default=False)
# A channel is disabled after this many permanent failures in a row (404, 410…).
PARKWAY_NOTIFY_MAX_FAILURES = env.int("PARKWAY_NOTIFY_MAX_FAILURES", default=3)
# Transient failures (5xx, time-outs) are retried this many times, with back-off.
PARKWAY_NOTIFY_RETRIES = env.int("PARKWAY_NOTIFY_RETRIES", default=5)
# The pre-stop warning goes this many minutes before a scheduled stop (with a
# link keeping each machine running 2 more hours); at least one tick apart.
PARKWAY_WARNING_MINUTES = env.int("PARKWAY_WARNING_MINUTES", default=15)
