from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone


class Block(models.Model):
    """`blocker` blocked `blocked`: one row per direction (A blocking B and B blocking A are two
    rows, each undone by its own blocker). Either row separates the pair both ways
    (safety/selectors.py), so every probe looks both ways: the unique pair index serves
    "did the viewer block X", `block_blocked_idx` serves "did X block the viewer"."""

    # No single-column indexes: the pair index starts with blocker, block_blocked_idx with blocked.
    blocker = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False)
    blocked = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "блокировка"
        verbose_name_plural = "блокировки"
        constraints = [
            models.UniqueConstraint(fields=["blocker", "blocked"], name="block_unique_pair"),
            models.CheckConstraint(condition=~Q(blocker=F("blocked")), name="block_not_self"),
        ]
        indexes = [
            # The other way round: who blocked the viewer (the anti-join's second probe).
            models.Index(fields=["blocked", "blocker"], name="block_blocked_idx"),
            # Keyset pagination of the users one has blocked, newest block first.
            models.Index(fields=["blocker", "-created_at", "-id"], name="block_recent_idx"),
        ]

    def __str__(self):
        return f"{self.blocker} ⊘ {self.blocked}"
