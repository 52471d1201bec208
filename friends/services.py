"""Writes of the friends capability. A friendship is mutual and immediate: both rows are
written (or removed) together in one transaction, never one without the other."""

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import User
from friends import signals
from friends.models import Friendship
from safety.selectors import block_between_check
from social.exceptions import Conflict, DomainError, NotFound

ADDED = "Пользователь {user} успешно добавил {friend} в друзья"
REMOVED = "Пользователь {user} успешно удалил {friend} из друзей"
SELF_ADD = "Нельзя добавить в друзья самого себя."
SELF_REMOVE = "Нельзя удалить из друзей самого себя."
ALREADY_FRIENDS = "Пользователь {friend} уже у вас в друзьях."
NOT_FRIENDS = "Пользователя {friend} нет у вас в друзьях."
NOT_YOURSELF = "Нельзя действовать от имени другого пользователя."


def friendship_add(*, user: User, friend: User) -> Friendship:
    """Make `user` and `friend` friends of each other, at once and both ways.

    Preconditions (checked by the caller): `user` acts for themselves, `friend` exists and is
    active. Self → DomainError (400); a block between them, either way → Blocked (403);
    already friends → Conflict (409). Returns the
    user → friend row.

    Safe against a concurrent add of the same pair (A adds B while B adds A): both
    transactions insert the two rows in the same order (by user id), so the second one waits
    on the first row's unique index entry instead of deadlocking, then fails the unique
    constraint once the first commits; that failure is reported as the 409 it is.
    """
    if user.pk == friend.pk:
        raise DomainError(SELF_ADD)
    block_between_check(user_id=user.pk, other_id=friend.pk)
    if Friendship.objects.filter(user=user, friend=friend).exists():
        raise Conflict(ALREADY_FRIENDS.format(friend=friend.username))
    now = timezone.now()
    rows = sorted(
        [Friendship(user=user, friend=friend, created_at=now), Friendship(user=friend, friend=user, created_at=now)],
        key=lambda row: row.user_id,
    )
    try:
        # Its own atomic block: a savepoint when called inside a transaction, so a lost race
        # leaves the caller's transaction usable for the check below.
        with transaction.atomic():
            Friendship.objects.bulk_create(rows)
            signals.friend_added.send(sender=Friendship, user=user, friend=friend)
    except IntegrityError:
        if Friendship.objects.filter(user=user, friend=friend).exists():
            raise Conflict(ALREADY_FRIENDS.format(friend=friend.username)) from None
        raise  # not the race we expect (e.g. a user deleted meanwhile): a real error
    return next(row for row in rows if row.user_id == user.pk)


def friendship_remove(*, user: User, friend: User) -> None:
    """End the friendship of `user` and `friend`, both rows in one statement.

    Preconditions as for `friendship_add`. Self → DomainError (400); not friends → NotFound
    (404). A concurrent second remove waits for the first and then finds nothing → 404."""
    if user.pk == friend.pk:
        raise DomainError(SELF_REMOVE)
    if not friendship_end(user_id=user.pk, friend_id=friend.pk):
        raise NotFound(NOT_FRIENDS.format(friend=friend.username))


def friendship_end(*, user_id, friend_id) -> bool:
    """Remove both rows of the friendship of the two users, if there is one; whether there
    was. The one delete of a friendship: `friendship_remove` and a block (safety) call it."""
    deleted, _ = Friendship.objects.filter(
        Q(user_id=user_id, friend_id=friend_id) | Q(user_id=friend_id, friend_id=user_id),
    ).delete()
    return bool(deleted)


def user_friendships_purge(*, user_id, limit: int) -> int:
    """One step of a deleted account's purge (accounts.signals.user_purging): delete at most
    `limit` of the rows of their friendships, both directions; return how many (0: none left)."""
    rows = Friendship.objects.filter(Q(user_id=user_id) | Q(friend_id=user_id))
    batch = list(rows.order_by("pk").values_list("pk", flat=True)[:limit])
    if batch:
        Friendship.objects.filter(pk__in=batch).delete()
    return len(batch)
