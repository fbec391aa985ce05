from django.conf import settings
from django.urls import include, path

from shop import views

urlpatterns = [
    path("api/open/", views.Open.as_view()),
    path("api/me/", views.Me.as_view()),
    path("api/staff/", views.Staff.as_view()),
    path("api/widgets/", views.Widgets.as_view()),
    path("api/reports/", views.Reports.as_view()),
    path("api/catalog/", views.Catalog.as_view()),
    path("api/throttled/", views.Throttled.as_view()),
    path("api/burst/", views.Burst.as_view()),
    path("api/burst-too/", views.BurstToo.as_view()),
    path("csrf/", views.csrf_token),
]

if settings.OIDC:
    from django.contrib.auth.views import LoginView

    # The OpenID provider (PJ_OIDC): DOT's endpoints under /o/ (issuer
    # http://127.0.0.1:<port>/o) and Django's own sign-in page.
    urlpatterns += [
        path("o/", include("oauth2_provider.urls", namespace="oauth2_provider")),
        path("accounts/login/", LoginView.as_view()),
    ]
