"""Writes of the safety app: blocking and unblocking.

A block also ends the pair's friendship, through the friends app's own delete, in the same
transaction: no moment exists where the block stands and the friendship still shows. Blocking
and unblocking are idempotent (the same answer twice, no error): the unique pair decides races.
Unblocking restores visibility only; the friendship stays ended.
"""

from django.db import transaction

from accounts.models import User
from friends.services import friendship_end
from safety.models import Block
from social.exceptions import DomainError

SELF_BLOCK = "Нельзя заблокировать самого себя."
SELF_UNBLOCK = "Нельзя разблокировать самого себя."


def block_create(*, blocker: User, blocked: User) -> None:
    """`blocker` blocks `blocked` and their friendship ends.

    Preconditions: `blocker` is the caller, `blocked` exists and is active
    (safety.selectors.block_target_get). Self → DomainError (400)."""
    if blocker.pk == blocked.pk:
        raise DomainError(SELF_BLOCK)
    with transaction.atomic():
        # ON CONFLICT DO NOTHING: a second block (or a racing one) changes nothing and fails nothing.
        Block.objects.bulk_create([Block(blocker=blocker, blocked=blocked)], ignore_conflicts=True)
        friendship_end(user_id=blocker.pk, friend_id=blocked.pk)


def block_remove(*, blocker: User, blocked: User) -> None:
    """`blocker` lifts their block of `blocked` (a block `blocked` placed stays). Same
    preconditions as `block_create`; self → DomainError (400)."""
    if blocker.pk == blocked.pk:
        raise DomainError(SELF_UNBLOCK)
    Block.objects.filter(blocker=blocker, blocked=blocked).delete()
