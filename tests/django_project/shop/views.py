"""DRF views guarded the way the gateway's routes in tests/it/django.rs are,
so the same request can be sent to both and the decisions compared."""
from django.http import JsonResponse
from django.middleware.csrf import get_token
from rest_framework import permissions, throttling
from rest_framework.response import Response
from rest_framework.views import APIView

from shop.models import Widget


class Answer(APIView):
    def get(self, request):
        return Response({"user": request.user.get_username()})

    def post(self, request):
        return Response({"user": request.user.get_username()})

    def delete(self, request):
        return Response({"user": request.user.get_username()})


class Open(Answer):
    permission_classes = [permissions.AllowAny]


class Me(Answer):
    permission_classes = [permissions.IsAuthenticated]


class Staff(Answer):
    permission_classes = [permissions.IsAdminUser]


class Widgets(Answer):
    permission_classes = [permissions.DjangoModelPermissions]
    queryset = Widget.objects.all()


class Catalog(Answer):
    """Reads open to everyone, writes by model permission: the gateway's
    `access = "authenticated_or_read_only"` with `model`."""

    permission_classes = [permissions.DjangoModelPermissionsOrAnonReadOnly]
    queryset = Widget.objects.all()


class CanViewReports(permissions.BasePermission):
    def has_permission(self, request, view):
        return request.user.has_perm("shop.view_report")


class Reports(Answer):
    permission_classes = [permissions.IsAuthenticated, CanViewReports]


class Throttled(Answer):
    """DRF's default pair: anonymous requests by address, users by id."""

    permission_classes = [permissions.AllowAny]
    throttle_classes = [throttling.AnonRateThrottle, throttling.UserRateThrottle]


class Burst(Answer):
    """A scope two views share: one history for both."""

    permission_classes = [permissions.AllowAny]
    throttle_classes = [throttling.ScopedRateThrottle]
    throttle_scope = "burst"


class BurstToo(Burst):
    pass


def csrf_token(request):
    return JsonResponse({"token": get_token(request)})
