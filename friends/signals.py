"""Domain signals of the friends app: how the apps above it (notifications) learn of a new
friendship. Sent inside the service's transaction, so the receivers' writes commit or roll back
with the friendship."""

from django.dispatch import Signal

# `user` added `friend` (both accounts.models.User): the friendship now exists both ways.
friend_added = Signal()
