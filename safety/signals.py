"""Domain signals of the safety app: how the apps above it learn of a block. Sent inside the
block's transaction, so their receivers' writes commit or roll back with it."""

from django.dispatch import Signal

# `blocker` blocked `blocked` (both accounts.models.User). Friends ends their friendship.
user_blocked = Signal()

# `blocker` lifted their block of `blocked`. What the apps above keep per viewer from before
# (posts: a kept recommended ranking) is stale for both of them.
user_unblocked = Signal()
