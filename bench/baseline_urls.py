"""The baseline's routes: Django's stock password reset request at /baseline/password-reset/."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import path

urlpatterns = [
    path(
        "baseline/password-reset/",
        auth_views.PasswordResetView.as_view(success_url="/baseline/password-reset/done/"),
        name="password_reset",
    ),
    path(
        "baseline/password-reset/done/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "baseline/reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
]
