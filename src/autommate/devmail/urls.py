from __future__ import annotations

from django.urls import path

from . import views

# Mounted at /dev/mail/ by the project's urls only when DEBUG is on.
urlpatterns = [
    path("", views.message_list, name="devmail-list"),
    path("<str:message_id>/", views.message_detail, name="devmail-detail"),
    path("<str:message_id>/html", views.message_html, name="devmail-html"),
]
