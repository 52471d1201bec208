"""Who may read a user's email (CONTRACT-NOTES "Privacy").

The email is the login: a list of them is what a spammer or a credential-stuffer harvests. It is
shown only in answers about the caller themselves, unless `USER_EMAIL_VISIBILITY` widens it. In
every other user object it is `""`, so the object keeps the contract's keys and types.
"""

from django.conf import settings

SELF = "self"
FRIENDS = "friends"
EVERYONE = "everyone"
VISIBILITIES = (SELF, FRIENDS, EVERYONE)


def email_for(*, user, viewer, friend: bool = False) -> str:
    """`user`'s email as `viewer` may read it in an answer addressed to them: their own always;
    a friend's (`friend=True`: the caller's friends list) under `friends`; anyone's under
    `everyone`; otherwise `""`."""
    visibility = settings.USER_EMAIL_VISIBILITY
    if visibility == EVERYONE or (viewer is not None and viewer.pk == user.pk):
        return user.email
    if visibility == FRIENDS and friend:
        return user.email
    return ""


def embedded_email(email: str, *, shown: bool | None = None) -> str:
    """The email of a user embedded in a shared object (a post's likers, chat members, message
    authors, socket frames): `""` unless `everyone`, the caller's own too. One encoding of a post
    or a message then serves every viewer (per-process post encodings, one fan-out payload).
    `shown`: `embedded_emails_shown()` when the caller read it once for a page of users."""
    if shown is None:
        shown = embedded_emails_shown()
    return email if shown else ""


def embedded_emails_shown() -> bool:
    """Does `embedded_email` show emails? (One settings read, for a page of users: a chat list
    page embeds ~60.)"""
    return settings.USER_EMAIL_VISIBILITY == EVERYONE
