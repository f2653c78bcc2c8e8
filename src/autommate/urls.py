from __future__ import annotations

from django.conf import settings
from django.urls import URLPattern, URLResolver, include, path

from autommate.accounts import token_views
from autommate.accounts import views as accounts
from autommate.audit import views as audit
from autommate.deferred_urls import DeferredResolver
from autommate.delivery import views as delivery
from autommate.mailserver import views as mailserver
from autommate.recovery import views as recovery

urlpatterns: list[URLPattern | URLResolver] = [
    path("", accounts.home, name="home"),
    path("login/", accounts.SignInView.as_view(), name="login"),
    path("logout/", accounts.sign_out, name="logout"),
    path("users/", accounts.user_list, name="user-list"),
    path("users/add/", accounts.user_add, name="user-add"),
    path("users/<int:pk>/", accounts.user_edit, name="user-edit"),
    path("users/<int:pk>/deactivate/", accounts.user_deactivate, name="user-deactivate"),
    path("users/<int:pk>/unlock/", accounts.user_unlock, name="user-unlock"),
    path("users/<int:pk>/invitation/", accounts.user_invite, name="user-invite"),
    path("users/<int:pk>/password-reset/", accounts.user_send_reset, name="user-send-reset"),
    path("forgot-password/", recovery.forgot_password, name="forgot-password"),
    path(
        "forgot-password/check-email/",
        recovery.forgot_password_sent,
        name="forgot-password-sent",
    ),
    path("reset-password/<str:token>/", recovery.reset_password_link, name="reset-password-link"),
    path("reset-password/", recovery.reset_password, name="reset-password"),
    path("invitation/<str:token>/", recovery.invitation_link, name="invitation-link"),
    path("invitation/", recovery.invitation, name="invitation"),
    path("settings/mail/", mailserver.mail_settings, name="mail-settings"),
    path("settings/mail/test/", mailserver.test_mail, name="mail-test"),
    path("settings/mail/confirm/", mailserver.confirm_delivery, name="mail-confirm"),
    path(
        "settings/mail/confirm/<str:token>/",
        mailserver.confirm_delivery_link,
        name="mail-confirm-link",
    ),
    path("settings/mail/log/", delivery.mail_log, name="mail-log"),
    path("settings/forgot-password/", recovery.forgot_password_settings, name="recovery-settings"),
    path("settings/audit/", audit.audit_log, name="audit-log"),
    path("account/", accounts.account, name="account"),
    path("account/tokens/", token_views.api_tokens, name="api-tokens"),
    path("account/tokens/<int:pk>/revoke/", token_views.api_token_revoke, name="api-token-revoke"),
    # The API's modules are imported on its first request, not by every web worker at start.
    DeferredResolver("api/v1/", "autommate.api.urls", app_name="ninja", namespace="api-v1"),
    # The language switcher of the pages seen before logging in: Django's set_language, which
    # takes a POST with CSRF and follows `next` only to this site.
    path("i18n/", include("django.conf.urls.i18n")),
    path("healthz", delivery.healthz, name="healthz"),
    path("readyz", delivery.readyz, name="readyz"),
    path("metrics", delivery.metrics, name="metrics"),
]

if settings.DEBUG:
    urlpatterns += [path("dev/mail/", include("autommate.devmail.urls"))]

handler400 = "autommate.error_pages.bad_request"
handler403 = "autommate.error_pages.permission_denied"
handler404 = "autommate.error_pages.page_not_found"
handler500 = "autommate.error_pages.server_error"
