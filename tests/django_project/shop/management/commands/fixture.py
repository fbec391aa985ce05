"""`manage.py fixture <op> ...`: makes the users, groups, permissions and
sessions tests/it/django.rs checks the gateway with, and the OpenID
provider's client (tests/it/common/oidc.rs), through Django's own APIs, and
prints one JSON object."""
import json
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.core import signing
from django.core.management.base import BaseCommand
from django.test import Client
from django.utils import timezone


def permission(label):
    app_label, codename = label.split(".")
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


class Command(BaseCommand):
    def add_arguments(self, parser):
        parser.add_argument("op")
        parser.add_argument("args", nargs="*")
        parser.add_argument("--staff", action="store_true")
        parser.add_argument("--superuser", action="store_true")
        parser.add_argument("--inactive", action="store_true")
        parser.add_argument("--group", action="append", default=[])
        parser.add_argument("--perm", action="append", default=[])
        parser.add_argument("--email", default="")
        parser.add_argument("--post-logout", action="append", default=[])

    def handle(self, *args, **options):
        # Django hands the positional "args" over as *args.
        op = options.pop("op")
        result = getattr(self, op.replace("-", "_"))(*args, **options)
        self.stdout.write(json.dumps(result))

    def user(self, name, password, staff, superuser, inactive, group, perm, email, **_):
        user = get_user_model().objects.create_user(
            name, email=email, password=password, is_staff=staff or superuser, is_superuser=superuser
        )
        user.is_active = not inactive
        user.save()
        for name in group:
            user.groups.add(Group.objects.get_or_create(name=name)[0])
        for label in perm:
            user.user_permissions.add(permission(label))
        return {"id": str(user.pk)}

    def identity(self, name, **_):
        """What Django itself says of the user: the reference the gateway's
        identity headers are compared with."""
        user = get_user_model().objects.get(username=name)
        return {
            "groups": sorted(user.groups.values_list("name", flat=True)),
            "permissions": sorted(user.get_all_permissions()),
            "staff": user.is_staff,
            "superuser": user.is_superuser,
        }

    def group_perm(self, group_name, label, **_):
        Group.objects.get_or_create(name=group_name)[0].permissions.add(permission(label))
        return {}

    def login(self, name, password, **_):
        """Signs in through Django's test client (a real DB session), then
        asks a view for a CSRF token, as a browser page would."""
        client = Client()
        assert client.login(username=name, password=password)
        token = client.get("/csrf/").json()["token"]
        csrf_cookie = client.cookies.get("csrftoken")
        return {
            "sessionid": client.cookies["sessionid"].value,
            "csrftoken": csrf_cookie.value if csrf_cookie else None,
            "token": token,
        }

    def token(self, name, **_):
        """A DRF token, made by DRF's own model."""
        from rest_framework.authtoken.models import Token

        user = get_user_model().objects.get(username=name)
        return {"key": Token.objects.create(user=user).key}

    def jwt(self, name, **_):
        """simplejwt's tokens for the user, as its TokenObtainPairView
        makes them (`RefreshToken.for_user`), plus an expired access token
        and a refresh token (the wrong type for an API call)."""
        from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

        user = get_user_model().objects.get(username=name)
        refresh = RefreshToken.for_user(user)
        expired = AccessToken.for_user(user)
        expired.set_exp(from_time=timezone.now() - timedelta(minutes=10), lifetime=timedelta(minutes=5))
        no_id = AccessToken.for_user(user)
        del no_id["jti"]
        no_user = AccessToken.for_user(user)
        del no_user["user_id"]
        return {
            "access": str(refresh.access_token),
            "refresh": str(refresh),
            "expired": str(expired),
            "no_jti": str(no_id),
            "no_user_id": str(no_user),
        }

    def sliding(self, name, **_):
        """simplejwt's sliding tokens (outstanding, as the blacklist app
        records them): a live one, one blacklisted, one expired."""
        from rest_framework_simplejwt.tokens import SlidingToken

        user = get_user_model().objects.get(username=name)
        live = SlidingToken.for_user(user)
        revoked = SlidingToken.for_user(user)
        revoked.blacklist()
        expired = SlidingToken.for_user(user)
        expired.set_exp(from_time=timezone.now() - timedelta(minutes=10), lifetime=timedelta(minutes=5))
        return {"live": str(live), "blacklisted": str(revoked), "expired": str(expired)}

    def delete(self, name, **_):
        get_user_model().objects.filter(username=name).delete()
        return {}

    def password(self, name, new_password, **_):
        user = get_user_model().objects.get(username=name)
        user.set_password(new_password)
        user.save()
        return {}

    def set_groups(self, name, group, **_):
        """Replaces the user's groups (a provider's directory changing)."""
        user = get_user_model().objects.get(username=name)
        user.groups.set([Group.objects.get_or_create(name=g)[0] for g in group])
        return {}

    def oidc_revoke(self, name, **_):
        """Revokes the user's refresh tokens at the OpenID provider (PJ_OIDC),
        as an administrator cutting off a user's grants does; returns how
        many were live."""
        from oauth2_provider.models import RefreshToken

        live = RefreshToken.objects.filter(user__username=name, revoked__isnull=True)
        count = 0
        for token in live:
            token.revoke()
            count += 1
        return {"revoked": count}

    def oidc_secret(self, client_id, client_secret, **_):
        """Replaces the client's secret at the provider (an administrator
        rotating it there before the relying party knows)."""
        from oauth2_provider.models import Application

        application = Application.objects.get(client_id=client_id)
        application.client_secret = client_secret
        application.save()
        return {}

    def oidc_grants(self, name, **_):
        """How many refresh tokens the provider has issued the user (one per
        sign-in and one per refresh, since it rotates them)."""
        from oauth2_provider.models import RefreshToken

        return {"issued": RefreshToken.objects.filter(user__username=name).count()}

    def deactivate(self, name, **_):
        get_user_model().objects.filter(username=name).update(is_active=False)
        return {}

    def expire(self, session_key, **_):
        Session.objects.filter(pk=session_key).update(expire_date=timezone.now() - timedelta(seconds=1))
        return {}

    def tamper(self, session_key, **_):
        """Changes one character of the signed session data."""
        session = Session.objects.get(pk=session_key)
        data = session.session_data
        middle = len(data) // 2
        swapped = "A" if data[middle] != "A" else "B"
        session.session_data = data[:middle] + swapped + data[middle + 1 :]
        session.save()
        return {}

    def forge(self, name, **_):
        """A session for `name` that looks right but is signed with a key
        the site does not have: what an attacker with database write
        access but not SECRET_KEY could make."""
        user = get_user_model().objects.get(username=name)
        store = SessionStore()
        payload = {
            "_auth_user_id": str(user.pk),
            "_auth_user_backend": "django.contrib.auth.backends.ModelBackend",
            "_auth_user_hash": user._get_session_auth_hash(secret="attacker-key"),
        }
        key = store._get_new_session_key()
        Session.objects.create(
            session_key=key,
            session_data=signing.dumps(payload, key="attacker-key", salt=store.key_salt, compress=True),
            expire_date=timezone.now() + timedelta(days=1),
        )
        return {"sessionid": key}

    def oidc_client(self, client_secret, *redirect_uris, post_logout, **_):
        """The relying party's registration at the OpenID provider (PJ_OIDC):
        a confidential client of the authorization code flow, ID tokens
        signed RS256, no consent page. DOT stores `client_secret` hashed (its
        default); the relying party sends it as given here."""
        from oauth2_provider.models import Application

        application = Application.objects.create(
            name="portcullis",
            client_type=Application.CLIENT_CONFIDENTIAL,
            authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
            algorithm=Application.RS256_ALGORITHM,
            skip_authorization=True,
            client_secret=client_secret,
            redirect_uris=" ".join(redirect_uris),
            post_logout_redirect_uris=" ".join(post_logout),
        )
        return {"client_id": application.client_id}

    def oidc_redirects(self, client_id, *redirect_uris, post_logout, **_):
        """Replaces the client's registered redirect URIs (and post-logout
        URIs): a gateway's callback is known once it listens."""
        from oauth2_provider.models import Application

        updated = Application.objects.filter(client_id=client_id).update(
            redirect_uris=" ".join(redirect_uris), post_logout_redirect_uris=" ".join(post_logout)
        )
        assert updated == 1, f"no client {client_id}"
        return {}
