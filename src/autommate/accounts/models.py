from __future__ import annotations

import unicodedata
from typing import Any, ClassVar

from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from autommate.header_text import check_header_text


def email_key(address: str) -> str:
    """Return the form of an address used for lookups and uniqueness: NFKC, case folded.

    Mail always goes to the address stored on the account, never to this key or to the
    address as typed.
    """
    return unicodedata.normalize("NFKC", address.strip()).casefold()


def search_fold(text: str) -> str:
    """Return the form of a text that the users list sorts and searches by.

    Case and accents do not count, and the dotted and dotless I of Turkish (İ i, I ı) are one
    letter, whatever language is active: "İsmail", "ISMAIL" and "ismail" all read "ismail",
    "Işık" and "ışık" both "isik". Unlike `email_key`, it is never used to tell addresses apart.
    """
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", text).casefold())
    bare = "".join(char for char in decomposed if not unicodedata.combining(char))
    return unicodedata.normalize("NFC", bare.replace("\u0131", "i"))


def _language_choices() -> list[tuple[str, object]]:
    # Translators: the choice of a user's Language that follows the browser's language.
    return [("", _("Browser language")), *settings.LANGUAGES]


class Role(models.TextChoices):
    ADMINISTRATOR = "admin", _("Administrator")
    USER = "user", _("User")


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def get_by_natural_key(self, username: str | None) -> User:
        return self.get(email_key=email_key(username or ""))

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        user = self.model(email=email.strip(), **extra)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        """Create an administrator, holding a given password to the password policy.

        `createsuperuser` and `setup` take the password from DJANGO_SUPERUSER_PASSWORD, where
        nothing else would check it.
        """
        extra["role"] = Role.ADMINISTRATOR
        if password:
            password_validation.validate_password(password, self.model(email=email, **extra))
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser):
    email = models.EmailField(_("Email"), max_length=254)
    email_key = models.CharField(max_length=254, unique=True, editable=False)
    full_name = models.CharField(_("Full name"), max_length=150, blank=True)
    role = models.CharField(_("Role"), max_length=10, choices=Role.choices, default=Role.USER)
    is_active = models.BooleanField(_("Active"), default=True)
    date_joined = models.DateTimeField(default=timezone.now)
    # Blank: automatic. The pages follow the browser; mails follow the language of the page a
    # reset was asked for on, else LANGUAGE_CODE.
    language = models.CharField(
        _("Language"),
        max_length=10,
        blank=True,
        default="",
        choices=_language_choices(),
        help_text=_(
            "The language of the pages and of every mail to this user. Browser language: the "
            "pages follow the language the browser asks for."
        ),
    )
    # What the users list sorts and searches by (see search_fold): a database's own lower() and
    # LIKE know only ASCII (SQLite) or the server's locale (PostgreSQL).
    email_search = models.CharField(max_length=254, editable=False, default="", db_index=True)
    full_name_search = models.CharField(max_length=150, editable=False, default="")
    # Raised to end every session of the account (at deactivation). It is part of the session
    # hash, so a session signed in before never matches again, not even after reactivation.
    session_generation = models.PositiveIntegerField(default=0, editable=False)

    objects: ClassVar[UserManager] = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        ordering = ["email_search", "email_key"]

    def __str__(self) -> str:
        return self.email

    def clean(self) -> None:
        """Refuse an address that no To header or RCPT TO command can carry.

        Django's email validation lets quoted local parts and international domains hold
        line separators and control characters, which would make every mail to the user fail.
        """
        super().clean()
        try:
            check_header_text(self.email, gettext("The email address"))
        except ValidationError as error:
            raise ValidationError({"email": error}) from None

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.email_key = email_key(self.email)
        self.email_search = search_fold(self.email)[:254]
        self.full_name_search = search_fold(self.full_name)[:150]
        update_fields = kwargs.get("update_fields")
        if update_fields is not None:
            derived = set()
            if "email" in update_fields:
                derived |= {"email_key", "email_search"}
            if "full_name" in update_fields:
                derived.add("full_name_search")
            kwargs["update_fields"] = {*update_fields, *derived}
        super().save(*args, **kwargs)

    @property
    def is_admin(self) -> bool:
        return self.is_active and self.role == Role.ADMINISTRATOR

    # Django's permission hooks, for code that asks them; the product has two roles only.
    @property
    def is_staff(self) -> bool:
        return self.is_admin

    @property
    def is_superuser(self) -> bool:
        return self.is_admin

    def has_perm(self, perm: str, obj: object = None) -> bool:
        return self.is_admin

    def has_module_perms(self, app_label: str) -> bool:
        return self.is_admin

    def _get_session_auth_hash(self, secret: str | None = None) -> str:
        """Return the hash a session must carry: Django's (an HMAC of the password hash), bound
        to the session generation as well once that has been raised.

        At generation 0 it is Django's own, so that sessions signed in before the generation
        existed stay valid; Django's sign-in and fallback keys both come through here.
        """
        digest: str = super()._get_session_auth_hash(secret=secret)  # type: ignore[misc]
        if not self.session_generation:
            return digest
        return salted_hmac(
            "autommate.accounts.User.session_generation",
            f"{digest}:{self.session_generation}",
            secret=secret,
            algorithm="sha256",
        ).hexdigest()

    def get_full_name(self) -> str:
        return self.full_name or self.email

    def get_short_name(self) -> str:
        return self.full_name.split(" ")[0] if self.full_name else self.email


class ApiToken(models.Model):
    """A personal API token. Only the SHA-256 hash of its secret is stored."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("Name"), max_length=100)
    # The first characters of the secret after its prefix, so a list can tell tokens apart.
    hint = models.CharField(max_length=12, editable=False)
    secret_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(_("Expires"), null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "revoked_at"])]

    def __str__(self) -> str:
        return f"API token {self.name!r} of {self.user_id}"

    @property
    def is_usable(self) -> bool:
        return self.revoked_at is None and (
            self.expires_at is None or self.expires_at > timezone.now()
        )
