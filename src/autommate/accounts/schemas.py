"""The shapes of users and personal API tokens in the JSON API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from ninja import Schema
from pydantic import Field, JsonValue

from autommate.api.conventions import Moment, PageOut, PageParams

from .models import ApiToken, User
from .selectors import user_status
from .tokens import PREFIX

RoleName = Literal["admin", "user"]
StatusName = Literal["invited", "invitation_expired", "active", "deactivated"]
LanguageName = Literal["en", "de", "tr"]
# What a client may send: a language, or empty (like null) for automatic.
LanguageChoice = Literal["", "en", "de", "tr"]
LANGUAGE_DESCRIPTION = (
    "The language of the user's pages and of every mail to them: `en`, `de` or `tr`. Null "
    "(or empty): automatic, the pages follow the browser's language."
)
WRITE_ONLY: dict[str, JsonValue] = {"writeOnly": True}


class UserOut(Schema):
    id: int
    email: str
    full_name: str
    role: RoleName
    is_active: bool
    is_admin: bool
    has_password: bool = Field(description="Whether the user has a password to log in with.")
    status: StatusName = Field(
        description="`invited` while an invitation to set a first password waits to be used, "
        "`invitation_expired` once it has expired unused, else `active` or `deactivated`."
    )
    invitation_expires_at: datetime | None = Field(
        description="When the invitation waiting to be used expires (or expired)."
    )
    language: LanguageName | None = Field(description=LANGUAGE_DESCRIPTION)
    date_joined: datetime
    last_login: datetime | None

    @staticmethod
    def resolve_language(user: User) -> str | None:
        return user.language or None

    @staticmethod
    def resolve_has_password(user: User) -> bool:
        return user.has_usable_password()

    @staticmethod
    def resolve_status(user: User) -> str:
        return user_status(user=user).status.value

    @staticmethod
    def resolve_invitation_expires_at(user: User) -> datetime | None:
        return user_status(user=user).invitation_expires_at


class UserCreated(UserOut):
    invitation_sent: bool = Field(False, description="Whether an invitation was sent.")
    invitation_not_sent_reason: str | None = Field(
        None,
        description="Why the invitation asked for was not sent (the user is added all the same).",
    )


# Lengths and formats are checked by the same form as on the pages, for the same messages.
class UserIn(Schema):
    email: str = Field(examples=["mike@example.org"])
    full_name: str = Field("", examples=["Mike User"])
    role: RoleName = "user"
    is_active: bool = True
    language: LanguageChoice | None = Field(None, description=LANGUAGE_DESCRIPTION)
    password: str | None = Field(
        None,
        description="Optional. Without one, the user sets a first password through the "
        "invitation (or Forgot Password).",
        json_schema_extra=WRITE_ONLY,
    )
    send_invitation: bool | None = Field(
        None,
        description="Mail the user an invitation to set a password. Absent or null: when no "
        "password is given. Never sent to a user given a password.",
    )


class UserPatch(Schema):
    email: str | None = None
    full_name: str | None = None
    role: RoleName | None = None
    is_active: bool | None = None
    language: LanguageChoice | None = Field(
        None, description=LANGUAGE_DESCRIPTION + " Absent: stays as it is."
    )


class UserQuery(PageParams):
    q: str = Field("", max_length=254, description="Part of the email or full name.")
    role: RoleName | None = None
    is_active: bool | None = None


class UserPage(PageOut):
    items: list[UserOut]


class ApiTokenOut(Schema):
    id: int
    name: str
    hint: str = Field(description="The start of the secret, to tell tokens apart.")
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    active: bool

    @staticmethod
    def resolve_hint(token: ApiToken) -> str:
        return f"{PREFIX}{token.hint}…"

    @staticmethod
    def resolve_active(token: ApiToken) -> bool:
        return token.is_usable


class ApiTokenIn(Schema):
    name: str = Field(description="What the token is for.", examples=["deploy pipeline"])
    expires_at: Moment | None = Field(
        None, description="When the token stops working (no zone: UTC). Empty: never."
    )


class ApiTokenCreated(Schema):
    token: ApiTokenOut
    secret: str = Field(description="The token itself. It is shown only this once.")


class ApiTokenPage(PageOut):
    items: list[ApiTokenOut]


class LinkSentOut(Schema):
    message: str
    user: UserOut
