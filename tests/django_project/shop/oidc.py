"""The OpenID provider's claims (settings.OAUTH2_PROVIDER's validator, with
PJ_OIDC): DOT's validator plus the user name, email and groups, in the ID
token and at the userinfo endpoint alike; `email_verified: true` too with
PJ_OIDC_EMAIL_VERIFIED=1 (a provider that vouches for its addresses)."""
import os

from oauth2_provider.oauth2_validators import OAuth2Validator


class Validator(OAuth2Validator):
    # DOT hands out a claim only when the scope it is listed under here was
    # granted; a claim missing from this map is never handed out, so the
    # non-standard "groups" claim needs its own "groups" scope.
    oidc_claim_scope = {**OAuth2Validator.oidc_claim_scope, "groups": "groups"}

    # The request-agnostic form (no `request` parameter, values called with
    # the request later): DOT then also lists these claims in discovery's
    # claims_supported.
    def get_additional_claims(self):
        claims = {
            "preferred_username": lambda request: request.user.get_username(),
            "email": lambda request: request.user.email,
            "groups": lambda request: sorted(request.user.groups.values_list("name", flat=True)),
        }
        if os.environ.get("PJ_OIDC_EMAIL_VERIFIED") == "1":
            claims["email_verified"] = lambda request: True
        return claims
