"""Reports of content or people, and the evidence each one keeps (EXTENSIONS.md §5).

A report names its target by kind and id, not by a foreign key: the reported post, comment,
message or account may be deleted (by its author, a moderator or the account's deletion)
while the report, and the snapshot of what was reported, stays. The people involved are
foreign keys that become NULL when an account goes, beside a copy of their username.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from social.uploads import random_upload_path

# The reporter's own words (EXTENSIONS.md §5).
REPORT_TEXT_MAX_LENGTH = 1000
# Copies of the reported images live under this prefix, apart from the originals, so deleting
# a post's files (or its author's) never takes the evidence with them.
REPORT_FILES_PREFIX = "reports"


class Report(models.Model):
    class Target(models.TextChoices):
        POST = "post", "пост"
        COMMENT = "comment", "комментарий"
        MESSAGE = "message", "сообщение"
        USER = "user", "пользователь"

    class Reason(models.TextChoices):
        SPAM = "spam", "спам"
        ABUSE = "abuse", "оскорбления"
        NUDITY = "nudity", "обнажённость"
        VIOLENCE = "violence", "насилие"
        OTHER = "other", "другое"

    class Status(models.TextChoices):
        OPEN = "open", "открыта"
        RESOLVED = "resolved", "решена"
        DISMISSED = "dismissed", "отклонена"

    id = models.BigAutoField(primary_key=True)
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="reports_made"
    )
    reporter_username = models.CharField("жалобщик (имя)", max_length=150)
    target_kind = models.CharField("цель", max_length=16, choices=Target.choices)
    # A post, comment or user UUID, or a message's integer id, as text.
    target_id = models.CharField("id цели", max_length=64)
    # Whose content it is (the user themself for a user report): what "deactivate" acts on.
    target_author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="reports_received"
    )
    target_author_username = models.CharField("автор (имя)", max_length=150)
    reason = models.CharField("причина", max_length=16, choices=Reason.choices)
    text = models.TextField("текст жалобы", blank=True, default="", max_length=REPORT_TEXT_MAX_LENGTH)
    # The snapshot of what was reported, as it was when reported: the post's description, the
    # comment's or message's text, the user's username.
    snapshot_text = models.TextField("снимок: текст", blank=True, default="")
    # Where it was: the post of a comment, the chat of a message (with its title then).
    context_id = models.CharField("снимок: где", max_length=64, blank=True, default="")
    context_title = models.CharField("снимок: название чата", max_length=255, blank=True, default="")
    status = models.CharField("статус", max_length=16, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField("создана", default=timezone.now)
    closed_at = models.DateTimeField("закрыта", null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = "жалоба"
        verbose_name_plural = "жалобы"
        constraints = [
            # One open report per reporter and target: the database decides between two
            # concurrent reports (409), not a lookup before the insert.
            models.UniqueConstraint(
                fields=["reporter", "target_kind", "target_id"],
                condition=Q(status="open"),
                name="report_open_once_per_reporter",
            )
        ]
        indexes = [
            # A target's open reports: the queue's count per target, and closing them all.
            models.Index(
                fields=["target_kind", "target_id", "-created_at"],
                condition=Q(status="open"),
                name="report_open_target_idx",
            ),
            # The queue's pages, newest first, per status.
            models.Index(fields=["status", "-created_at", "-id"], name="report_status_idx"),
            # The prune: closed reports past their keeping time.
            models.Index(fields=["closed_at"], condition=Q(closed_at__isnull=False), name="report_closed_idx"),
        ]

    def __str__(self):
        return f"#{self.pk} {self.target_kind} {self.target_id}"


def report_image_path(instance, filename):
    return random_upload_path(REPORT_FILES_PREFIX, filename)


class ReportImage(models.Model):
    """A copy of one reported image (a post's image, a user's avatar), kept with the report."""

    report = models.ForeignKey(Report, on_delete=models.CASCADE, related_name="images")
    file = models.ImageField(upload_to=report_image_path, max_length=255)
    # A copy of the post image's small WebP variant, for the queue's thumbnails; empty when the
    # original had none (the original's copy is shown then).
    thumb = models.ImageField(upload_to=report_image_path, max_length=255, blank=True, default="")
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        verbose_name = "снимок изображения"
        verbose_name_plural = "снимки изображений"
        ordering = ["report", "position"]
