from django.urls import path

from shop import views

urlpatterns = [
    path("api/open/", views.Open.as_view()),
    path("api/me/", views.Me.as_view()),
    path("api/staff/", views.Staff.as_view()),
    path("api/widgets/", views.Widgets.as_view()),
    path("api/reports/", views.Reports.as_view()),
    path("api/catalog/", views.Catalog.as_view()),
    path("csrf/", views.csrf_token),
]
