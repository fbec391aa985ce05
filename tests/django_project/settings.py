"""A small Django + DRF site, as the people in the seed documents run one.

Environment (set by tests/it/django.rs):
  PJ_SECRET_KEY            SECRET_KEY
  PJ_SECRET_KEY_FALLBACKS  SECRET_KEY_FALLBACKS, comma-separated
  PJ_DATABASE              "sqlite:/abs/path/db.sqlite3" or
                           "postgres:host:port:name:user"
  PJ_CSRF_USE_SESSIONS     "1" for CSRF_USE_SESSIONS = True
  PJ_USER_MODEL            "account" for AUTH_USER_MODEL = "shop.Account"
                           (a custom user model with a UUID primary key)
  PJ_AUTH                  DEFAULT_AUTHENTICATION_CLASSES by short name,
                           comma-separated: session, token, jwt,
                           jwt_stateless (default "session")
  PJ_JWT_AUDIENCE          SIMPLE_JWT["AUDIENCE"] (default unset)
  PJ_JWT_ISSUER            SIMPLE_JWT["ISSUER"] (default unset)
  PJ_JWT_ALGORITHM         SIMPLE_JWT["ALGORITHM"] (default HS256)
  PJ_JWT_SIGNING_KEY       SIMPLE_JWT["SIGNING_KEY"] (default SECRET_KEY)
  PJ_JWT_VERIFYING_KEY     SIMPLE_JWT["VERIFYING_KEY"] (PEM)
  PJ_JWT_TOKEN_CLASSES     SIMPLE_JWT["AUTH_TOKEN_CLASSES"] by type:
                           access, sliding (default access)
"""
import os

SECRET_KEY = os.environ["PJ_SECRET_KEY"]
SECRET_KEY_FALLBACKS = [k for k in os.environ.get("PJ_SECRET_KEY_FALLBACKS", "").split(",") if k]
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
ROOT_URLCONF = "urls"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
# HTTPS as a TLS-terminating proxy in front says it (tests/it/drf_parity.rs
# sends it through the gateway, which trusts 127.0.0.1 to say it too).
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
CSRF_USE_SESSIONS = os.environ.get("PJ_CSRF_USE_SESSIONS") == "1"
if os.environ.get("PJ_USER_MODEL") == "account":
    AUTH_USER_MODEL = "shop.Account"
# Fast hashing for tests; the session hash covers whatever hash is stored.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# For DRF's browsable API, the HTML answer to a browser.
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}]
STATIC_URL = "/static/"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "rest_framework",
    "rest_framework.authtoken",
    "rest_framework_simplejwt.token_blacklist",
    "shop",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
_AUTHENTICATION_CLASSES = {
    "session": "rest_framework.authentication.SessionAuthentication",
    "token": "rest_framework.authentication.TokenAuthentication",
    "jwt": "rest_framework_simplejwt.authentication.JWTAuthentication",
    "jwt_stateless": "rest_framework_simplejwt.authentication.JWTStatelessUserAuthentication",
}
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        _AUTHENTICATION_CLASSES[name] for name in os.environ.get("PJ_AUTH", "session").split(",")
    ],
}
SIMPLE_JWT = {
    "AUDIENCE": os.environ.get("PJ_JWT_AUDIENCE") or None,
    "ISSUER": os.environ.get("PJ_JWT_ISSUER") or None,
    "ALGORITHM": os.environ.get("PJ_JWT_ALGORITHM", "HS256"),
    "SIGNING_KEY": os.environ.get("PJ_JWT_SIGNING_KEY") or SECRET_KEY,
    "VERIFYING_KEY": os.environ.get("PJ_JWT_VERIFYING_KEY", ""),
    "AUTH_TOKEN_CLASSES": [
        {"access": "rest_framework_simplejwt.tokens.AccessToken",
         "sliding": "rest_framework_simplejwt.tokens.SlidingToken"}[kind]
        for kind in os.environ.get("PJ_JWT_TOKEN_CLASSES", "access").split(",")
    ],
}

_database = os.environ["PJ_DATABASE"]
if _database.startswith("sqlite:"):
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": _database[len("sqlite:"):]}}
else:
    _, host, port, name, user = _database.split(":")
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "HOST": host,
            "PORT": port,
            "NAME": name,
            "USER": user,
        }
    }
