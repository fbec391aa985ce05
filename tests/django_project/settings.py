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

An OpenID provider (tests/it/common/oidc.rs), off unless PJ_OIDC is "1":
  PJ_OIDC                  "1" installs django-oauth-toolkit with OpenID
                           Connect at /o/ and a sign-in page at
                           /accounts/login/ (cookies op_sessionid and
                           op_csrftoken)
  PJ_OIDC_KEY              the RSA private key (PEM) ID tokens are signed
                           with; required with PJ_OIDC
  PJ_OIDC_OLD_KEYS         earlier signing keys, PEM blocks one after the
                           other: still published in the JWKS, signing
                           nothing (default none)
  PJ_OIDC_ID_TOKEN_TTL     ID token lifetime in seconds (default 300)
  PJ_OIDC_ACCESS_TOKEN_TTL access token lifetime in seconds (default 3600)
  PJ_OIDC_REFRESH_TOKEN_TTL refresh token lifetime in seconds (default 86400)
  PJ_OIDC_JWKS_MAX_AGE     the JWKS answer's Cache-Control max-age in
                           seconds (default 3600, DOT's own)
  PJ_OIDC_EMAIL_VERIFIED   "1": ID tokens also say email_verified: true

serve.py also reads PJ_PORT: the loopback port to listen on (default 0, a
free one), so a restarted provider keeps its issuer URL."""
import os
import re

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

# For DRF's browsable API, the HTML answer to a browser; templates/ holds the
# OpenID provider's sign-in page.
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")],
        "APP_DIRS": True,
    }
]
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

# The OpenID provider the gateway's OIDC sign-in is tested against:
# django-oauth-toolkit (DOT) as a deployment would run it, authorization code
# flow with PKCE, ID tokens signed RS256.
OIDC = os.environ.get("PJ_OIDC") == "1"
if OIDC:
    INSTALLED_APPS.append("oauth2_provider")
    # Where DOT's authorization endpoint sends a visitor who is not signed in.
    LOGIN_URL = "/accounts/login/"
    # A browser keeps cookies per host, not per port: the gateway on
    # 127.0.0.1 names its cookies as Django does, so the provider's own must
    # be named apart or each would overwrite the other's.
    SESSION_COOKIE_NAME = "op_sessionid"
    CSRF_COOKIE_NAME = "op_csrftoken"
    OAUTH2_PROVIDER = {
        "OIDC_ENABLED": True,
        "OIDC_RSA_PRIVATE_KEY": os.environ["PJ_OIDC_KEY"],
        "OIDC_RSA_PRIVATE_KEYS_INACTIVE": re.findall(
            r"-----BEGIN [A-Z ]+-----.+?-----END [A-Z ]+-----", os.environ.get("PJ_OIDC_OLD_KEYS", ""), re.S
        ),
        "OIDC_JWKS_MAX_AGE_SECONDS": int(os.environ.get("PJ_OIDC_JWKS_MAX_AGE", "3600")),
        "PKCE_REQUIRED": True,
        # Only S256 challenges: a relying party sending "plain" is refused,
        # as DOT 4 will by default.
        "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
        "SCOPES": {
            "openid": "Sign in with OpenID Connect",
            "profile": "Your user name",
            "email": "Your email address",
            "groups": "The groups you are in",
        },
        "OAUTH2_VALIDATOR_CLASS": "shop.oidc.Validator",
        "ID_TOKEN_EXPIRE_SECONDS": int(os.environ.get("PJ_OIDC_ID_TOKEN_TTL", "300")),
        "ACCESS_TOKEN_EXPIRE_SECONDS": int(os.environ.get("PJ_OIDC_ACCESS_TOKEN_TTL", "3600")),
        "REFRESH_TOKEN_EXPIRE_SECONDS": int(os.environ.get("PJ_OIDC_REFRESH_TOKEN_TTL", "86400")),
        # end_session_endpoint in discovery. A sign-out carrying the signed-in
        # user's ID token ends the provider session and redirects at once,
        # without DOT's "are you sure" page, as a relying party's sign-out
        # does with most providers.
        "OIDC_RP_INITIATED_LOGOUT_ENABLED": True,
        "OIDC_RP_INITIATED_LOGOUT_ALWAYS_PROMPT": False,
    }

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
    # The throttled views only (shop.views.Throttled, Burst): no view
    # throttles unless it names its throttle classes.
    "DEFAULT_THROTTLE_RATES": {"anon": "3/min", "user": "5/min", "burst": "2/min"},
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
