"""Settings for the Autom Mate account core, read once from the environment.

Operators configure the process through the variables listed in the README; everything an
administrator edits at run time (mail server, Forgot Password) lives in the database instead.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import os
import secrets
import zoneinfo
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from autommate.envfile import load_env_file

# The `.env` file (working directory or AUTOMMATE_ENV_FILE) under the environment, first of all.
load_env_file()


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}.") from None


_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _env_networks(name: str, default: str) -> tuple[_Network, ...]:
    value = os.environ.get(name, "").strip() or default
    if value.lower() == "none":
        return ()
    networks = []
    for part in (p.strip() for p in value.split(",")):
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ImproperlyConfigured(
                f"{name} must be a comma-separated list of addresses or CIDR ranges "
                f"(such as 10.0.0.0/8 or 2001:db8::/32), or none; {part!r} is neither."
            ) from None
    return tuple(networks)


def _time_zone() -> str:
    """Return AUTOMMATE_TIME_ZONE, an IANA zone name such as Europe/Berlin (default UTC)."""
    name = os.environ.get("AUTOMMATE_TIME_ZONE", "").strip() or "UTC"
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ImproperlyConfigured(
            f"AUTOMMATE_TIME_ZONE must be a time zone name such as UTC or Europe/Berlin, "
            f"not {name!r}."
        ) from None
    return name


PACKAGE_DIR = Path(__file__).resolve().parent
VAR_DIR = Path(os.environ.get("AUTOMMATE_VAR_DIR", Path.cwd() / "var")).resolve()

DEBUG = _env_bool("AUTOMMATE_DEBUG", False)

BASE_URL = os.environ.get("AUTOMMATE_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
_base = urlsplit(BASE_URL)
if _base.scheme not in {"http", "https"} or not _base.hostname:
    raise ImproperlyConfigured(
        f"AUTOMMATE_BASE_URL must be an http:// or https:// address, not {BASE_URL!r}."
    )
BASE_URL_IS_HTTPS = _base.scheme == "https"


def _secret_key() -> str:
    key = os.environ.get("AUTOMMATE_SECRET_KEY", "").strip()
    if key:
        return key
    named = os.environ.get("AUTOMMATE_SECRET_KEY_FILE", "").strip()
    path = Path(named).expanduser() if named else VAR_DIR / "secret_key"
    if named and path.is_file():
        key = path.read_text().strip()
        if not key:
            raise ImproperlyConfigured(f"AUTOMMATE_SECRET_KEY_FILE names {named}, which is empty.")
        return key
    if not DEBUG:
        if named:
            raise ImproperlyConfigured(
                f"AUTOMMATE_SECRET_KEY_FILE names {named}, which is not a file. "
                "Correct the path, or set AUTOMMATE_SECRET_KEY instead."
            )
        raise ImproperlyConfigured(
            "AUTOMMATE_SECRET_KEY is required when AUTOMMATE_DEBUG is off. "
            "Generate one with: python3 -c 'import secrets; print(secrets.token_urlsafe(50))'"
        )
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()


def _encryption_keys() -> list[str]:
    configured = [k.strip() for k in os.environ.get("AUTOMMATE_ENCRYPTION_KEYS", "").split(",")]
    keys = [k for k in configured if k]
    if keys:
        return keys
    # Development default: a Fernet key derived from the secret key, so a fresh checkout works
    # without another variable. `autommate check --deploy` warns while it is in use.
    digest = hashlib.sha256(b"autommate-encryption-key:" + SECRET_KEY.encode()).digest()
    return [base64.urlsafe_b64encode(digest).decode()]


ENCRYPTION_KEYS = _encryption_keys()
ENCRYPTION_KEYS_DERIVED = not os.environ.get("AUTOMMATE_ENCRYPTION_KEYS", "").strip()

_hosts = os.environ.get("AUTOMMATE_ALLOWED_HOSTS", "").strip()
ALLOWED_HOSTS = [h.strip() for h in _hosts.split(",") if h.strip()] or [_base.hostname]
if DEBUG and not _hosts:
    ALLOWED_HOSTS += ["localhost", "127.0.0.1", "[::1]"]

TRUSTED_PROXIES = _env_int("AUTOMMATE_TRUSTED_PROXIES", 0)
# The proxies' own addresses: when set, forwarding headers count only on their connections.
TRUSTED_PROXY_NETWORKS = _env_networks("AUTOMMATE_TRUSTED_PROXY_NETWORKS", "none")
# Clients that read the mail queue's counters on /readyz without signing in: monitoring systems.
# Shown to anyone, the counters would tell which addresses have accounts (a reset request for one
# moves them a few seconds later; one for an unknown address moves nothing).
MONITORING_NETWORKS = _env_networks("AUTOMMATE_MONITORING_NETWORKS", "127.0.0.0/8,::1/128")
# Per-client limits count an IPv6 client by its network of this many bits: a subscriber is
# usually given a whole /64 and may use any address in it.
IPV6_CLIENT_PREFIX = _env_int("AUTOMMATE_IPV6_CLIENT_PREFIX", 64)
if not 1 <= IPV6_CLIENT_PREFIX <= 128:
    raise ImproperlyConfigured(
        f"AUTOMMATE_IPV6_CLIENT_PREFIX must be between 1 and 128, not {IPV6_CLIENT_PREFIX}."
    )
# Metrics (/metrics): every process of the installation on this host (web workers, task workers,
# commands) counts into files here, added up at scrape time; readable from the monitoring
# networks, or anywhere with this bearer token.
METRICS_DIR = Path(os.environ.get("AUTOMMATE_METRICS_DIR", "").strip() or VAR_DIR / "metrics")
METRICS_DIR = METRICS_DIR.resolve()
METRICS_DIR.mkdir(parents=True, exist_ok=True)
# Read by prometheus-client when it is first imported, which is after the settings.
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(METRICS_DIR)
METRICS_TOKEN = os.environ.get("AUTOMMATE_METRICS_TOKEN", "").strip()
PASSWORD_MIN_LENGTH = max(8, _env_int("AUTOMMATE_PASSWORD_MIN_LENGTH", 15))
# Long enough for any passphrase or manager-generated password, short enough that hashing an
# oversized field cannot be used to burn CPU.
PASSWORD_MAX_LENGTH = 1024

LIMIT_RESET_PER_ADDRESS = os.environ.get("AUTOMMATE_LIMIT_RESET_PER_ADDRESS", "3/15m,10/d")
LIMIT_RESET_PER_CLIENT = os.environ.get("AUTOMMATE_LIMIT_RESET_PER_CLIENT", "20/h")
LIMIT_RESET_LINK_FAILURES = os.environ.get("AUTOMMATE_LIMIT_RESET_LINK_FAILURES", "100/h")
LIMIT_TEST_MAIL = os.environ.get("AUTOMMATE_LIMIT_TEST_MAIL", "10/m")
LIMIT_SIGN_IN_PER_ACCOUNT = os.environ.get("AUTOMMATE_LIMIT_SIGN_IN_PER_ACCOUNT", "10/15m")
LIMIT_SIGN_IN_PER_CLIENT = os.environ.get("AUTOMMATE_LIMIT_SIGN_IN_PER_CLIENT", "50/15m")
# How long a browser that signed in to an account keeps its own allowance of failed sign-ins
# there (the device cookie), counted from its last sign-in.
SIGN_IN_DEVICE_LIFETIME_DAYS = 180
MAIL_ALLOWED_DESTINATIONS = os.environ.get("AUTOMMATE_MAIL_ALLOWED_DESTINATIONS", "")

# How long the whole test-mail conversation may take, in seconds.
TEST_MAIL_TIMEOUT_SECONDS = 15
# How long a delivery confirmation code stays valid.
TEST_MAIL_CODE_LIFETIME_HOURS = 24
# How long the delivery queue keeps retrying a temporarily failing message.
DELIVERY_RETRY_HOURS = _env_int("AUTOMMATE_DELIVERY_RETRY_HOURS", 24)
# How many SMTP connections each worker keeps open and sends on at once.
DELIVERY_CONNECTIONS = max(1, _env_int("AUTOMMATE_DELIVERY_CONNECTIONS", 4))
# How long the mail log keeps sent and failed mail, and the task queue its finished tasks.
MAIL_LOG_DAYS = max(1, _env_int("AUTOMMATE_MAIL_LOG_DAYS", 30))

DEV_MAIL_HOST = "127.0.0.1"
DEV_MAIL_PORT = _env_int("AUTOMMATE_DEV_MAIL_PORT", 1025)
DEV_MAIL_DIR = VAR_DIR / "devmail"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_tasks_db",
    "autommate.accounts",
    "autommate.mailserver",
    "autommate.recovery",
    "autommate.delivery",
    "autommate.audit",
    "autommate.ratelimits",
    "autommate.devmail",
]

MIDDLEWARE = [
    "autommate.client_address.untrusted_forwarding_dropped",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "autommate.languages.UserLanguageMiddleware",
    "autommate.private_pages.NoStoreWhenSignedIn",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "autommate.error_pages.DomainErrorPages",
]

ROOT_URLCONF = "autommate.urls"
WSGI_APPLICATION = "autommate.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [PACKAGE_DIR / "templates"],
        "APP_DIRS": False,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "autommate.recovery.context.forgot_password",
            ],
            "libraries": {"error_summary": "autommate.templatetags.error_summary"},
            "builtins": ["autommate.templatetags.languages"],
        },
    },
]


def _database(url: str) -> dict[str, Any]:
    try:
        return dict(dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True))
    except ValueError:  # dj_database_url's UnknownSchemeError and malformed addresses
        raise ImproperlyConfigured(
            "DATABASE_URL must be a database address such as postgres://user:password@host/name "
            "or sqlite:////absolute/path.sqlite3; the one set cannot be read."
        ) from None


DATABASES = {
    "default": _database(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'autommate.sqlite3'}")
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Connections are kept (CONN_MAX_AGE) as for PostgreSQL: opening one costs about a
    # millisecond (the pragmas below, Django's SQL functions), which every request and every task
    # of the worker paid when they were closed after each.
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets the web server read while the worker writes; IMMEDIATE takes the write lock
        # at the start of a transaction so two writers queue instead of failing mid-way.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # The same backend, whose writers queue for the write lock (autommate/sqlite3/base.py).
    DATABASES["default"]["ENGINE"] = "autommate.sqlite3"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "").strip()
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "autommate",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

TASKS = {
    "default": {
        "BACKEND": "django_tasks_db.DatabaseBackend",
        "QUEUES": ["default", "mail"],
    }
}

MAILERS = {
    "default": {"BACKEND": "autommate.mailserver.backend.MailServerBackend"},
    # The last mail settings through which a mail was accepted: the way of the alert to
    # administrators while the saved settings fail.
    "last_working": {"BACKEND": "autommate.mailserver.backend.LastWorkingBackend"},
}
DEFAULT_FROM_EMAIL = "autommate@localhost"

AUTH_USER_MODEL = "accounts.User"
# The email is unique through its normalised form (User.email_key), which the backend looks up.
SILENCED_SYSTEM_CHECKS = ["auth.W004"]
AUTHENTICATION_BACKENDS = ["autommate.accounts.backends.EmailBackend"]
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"

AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": PASSWORD_MIN_LENGTH},
    },
    {"NAME": "autommate.accounts.passwords.MaximumLengthValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator",
        "OPTIONS": {"user_attributes": ("email", "full_name")},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = BASE_URL_IS_HTTPS
CSRF_COOKIE_SECURE = BASE_URL_IS_HTTPS
CSRF_TRUSTED_ORIGINS = [f"{_base.scheme}://{_base.netloc}"]
CSRF_FAILURE_VIEW = "autommate.error_pages.csrf_failure"
SESSION_COOKIE_AGE = 60 * 60 * 12
# The language chosen with the switcher of the pages one sees before logging in.
LANGUAGE_COOKIE_NAME = "autommate_language"
LANGUAGE_COOKIE_AGE = 60 * 60 * 24 * 365
LANGUAGE_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_SECURE = BASE_URL_IS_HTTPS
LANGUAGE_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if BASE_URL_IS_HTTPS:
    SECURE_HSTS_SECONDS = 60 * 60 * 24 * 365
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    # Preloading commits a domain and all its subdomains to HTTPS in every browser for months:
    # the domain owner's decision, not one application's. HSTS is sent without it.
    SILENCED_SYSTEM_CHECKS.append("security.W021")
    SECURE_SSL_REDIRECT = _env_bool("AUTOMMATE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = (
        ("HTTP_X_FORWARDED_PROTO", "https") if TRUSTED_PROXIES or TRUSTED_PROXY_NETWORKS else None
    )
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "object-src": [CSP.NONE],
}

# Requests larger than this are refused before a view runs (the largest legitimate form is the
# mail server page with a CA certificate bundle).
DATA_UPLOAD_MAX_MEMORY_SIZE = 512 * 1024
DATA_UPLOAD_MAX_NUMBER_FIELDS = 100
FILE_UPLOAD_MAX_MEMORY_SIZE = 512 * 1024

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
STATICFILES_DIRS = [PACKAGE_DIR / "static"]

LANGUAGE_CODE = "en"
TIME_ZONE = _time_zone()
USE_I18N = True
USE_TZ = True
LANGUAGES = [("en", "English"), ("de", "Deutsch"), ("tr", "Türkçe")]
LOCALE_PATHS = [Path(__file__).resolve().parent / "locale"]

# Log lines: readable text, or one JSON object a line (AUTOMMATE_LOG_FORMAT=json), for every
# process (web server, its access lines, workers, the supervisor); each carries its request id.
LOG_FORMAT = os.environ.get("AUTOMMATE_LOG_FORMAT", "").strip().lower() or "text"
if LOG_FORMAT not in {"text", "json"}:
    raise ImproperlyConfigured(f"AUTOMMATE_LOG_FORMAT must be text or json, not {LOG_FORMAT!r}.")
MIDDLEWARE.insert(0, "autommate.logs.RequestIdMiddleware")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"()": "autommate.logs.TextFormatter"},
        "json": {"()": "autommate.logs.JsonFormatter"},
    },
    "filters": {
        "request_id": {"()": "autommate.logs.RequestIdFilter"},
        "redact": {"()": "autommate.redaction.RedactSecretsFilter"},
        "disallowed_host": {"()": "autommate.disallowed_hosts.DisallowedHostOnce"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "plain",
            "filters": ["request_id", "redact"],
        }
    },
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "autommate": {"level": os.environ.get("AUTOMMATE_LOG_LEVEL", "INFO")},
        "django.request": {"level": "ERROR"},
        # Requests for a host not served: one WARNING line per host and minute, no traceback.
        "django.security.DisallowedHost": {"filters": ["disallowed_host"]},
    },
}
