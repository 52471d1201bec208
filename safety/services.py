"""Writes of the safety app: blocking and unblocking.

A block also ends the pair's friendship, in the same transaction: no moment exists where the
block stands and the friendship still shows. Safety stands below friends (friends checks blocks),
so it says so with the `user_blocked` domain signal, and the friends app's receiver ends the
friendship through its own service (friends/receivers.py). Blocking
and unblocking are idempotent (the same answer twice, no error): the unique pair decides races.
Unblocking restores visibility only; the friendship stays ended.
"""

from django.db import transaction

from accounts.models import User
from safety import signals
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
        signals.user_blocked.send(sender=Block, blocker=blocker, blocked=blocked)


def block_remove(*, blocker: User, blocked: User) -> None:
    """`blocker` lifts their block of `blocked` (a block `blocked` placed stays). Same
    preconditions as `block_create`; self → DomainError (400)."""
    if blocker.pk == blocked.pk:
        raise DomainError(SELF_UNBLOCK)
    with transaction.atomic():
        deleted, _ = Block.objects.filter(blocker=blocker, blocked=blocked).delete()
        if deleted:
            signals.user_unblocked.send(sender=Block, blocker=blocker, blocked=blocked)
