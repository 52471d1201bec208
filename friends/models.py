from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone


class Friendship(models.Model):
    """One direction of a mutual friendship: a friendship is always stored as two rows,
    (a, b) and (b, a), written in one transaction, so "friends of X" is one indexed lookup."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="friendships")
    friend = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "дружба"
        verbose_name_plural = "дружба"
        constraints = [
            models.UniqueConstraint(fields=["user", "friend"], name="friendship_unique_pair"),
            models.CheckConstraint(condition=~Q(user=F("friend")), name="friendship_not_self"),
        ]
        indexes = [
            # Keyset pagination of one user's friends, newest friendship first.
            models.Index(fields=["user", "-created_at", "-id"], name="friendship_recent_idx"),
        ]

    def __str__(self):
        return f"{self.user} → {self.friend}"
