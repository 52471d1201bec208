"""Every write of the moderation app: reports, their evidence, and what moderators do about them.

A moderator's action goes through the same services the API uses (posts, chats, accounts), so
its effects are the API's: stored files deleted after commit, `message.deleted` to both kinds
of socket, sessions ended. Each action closes every open report of its target in the same
transaction.
"""

import logging
import os
from collections.abc import Iterable, Sequence
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from accounts.services import user_deactivate
from chats.models import Message
from chats.services import message_delete, message_delete_check
from moderation.models import Report, ReportImage, report_image_path
from moderation.selectors import TargetSnapshot, report_target
from posts.models import Comment, Post
from posts.services import StorageUnavailable, comment_delete, post_delete
from social.exceptions import Conflict
from social.files import stored_file_copy
from social.tasks import stored_files_release

logger = logging.getLogger(__name__)

ALREADY_REPORTED = "Вы уже пожаловались на это: жалоба ещё рассматривается."
NOTHING_TO_DELETE = "У жалобы на пользователя нет контента для удаления: деактивируйте его."
# How long a closed report (and the evidence it keeps) stays, for appeals and audits.
KEEP_DAYS_AFTER_CLOSE = 90
PRUNE_BATCH = 500


def _files_delete_on_commit(names: Sequence[str]) -> None:
    """Hand these stored copies to the background deletion (social.tasks, which retries while
    the storage is down) once the transaction commits: a rolled-back deletion keeps them."""
    stored_files_release(names)


def _evidence_copy(snapshot: TargetSnapshot, saved: list[str]) -> list[dict]:
    """Copy the target's images under reports/ (originals and thumbnails), appending every
    stored name to `saved` (the caller deletes them if anything fails); ReportImage fields."""
    rows = []
    for original, thumb in snapshot.images:
        row = {}
        for key, name in (("file", original), ("thumb", thumb)):
            if not name:
                continue
            try:
                saved.append(stored_file_copy(name, report_image_path(None, os.path.basename(name))))
            except FileNotFoundError:
                # A file already gone (an orphaned row) is no evidence to keep; the report
                # still stands. A storage that fails is another matter (the caller's 503).
                logger.warning("reported image %s is missing from the storage", name)
                continue
            row[key] = saved[-1]
        if row.get("file"):
            rows.append(row)
    return rows


def report_create(*, reporter: User, kind: str, target_id, reason: str, text: str = "") -> Report:
    """Report a post, comment, message or user, keeping a snapshot of it: its text now, and
    copies of its images under reports/, so editing or deleting it (or its author's account)
    erases no evidence.

    Preconditions: `kind` and `reason` are valid choices, `text` at most 1000 characters.
    NotFound when the reporter could never have seen the target; ValidationError on `id` for a
    malformed id; Conflict while the same reporter has an open report of the same target (the
    unique partial constraint decides between concurrent ones); StorageUnavailable (503) when
    the copies cannot be made, and nothing is stored."""
    snapshot = report_target(kind=kind, target_id=target_id, reporter=reporter)
    open_reports = Report.objects.filter(
        reporter=reporter, target_kind=kind, target_id=snapshot.target_id, status=Report.Status.OPEN
    )
    if open_reports.exists():
        raise Conflict(ALREADY_REPORTED)  # the common repeat costs no copies
    saved: list[str] = []
    try:
        images = _evidence_copy(snapshot, saved)
    except Exception as error:
        _files_delete_on_commit(saved)
        logger.exception("copying reported images failed")
        raise StorageUnavailable() from error
    try:
        with transaction.atomic():
            report = Report.objects.create(
                reporter=reporter,
                reporter_username=reporter.username,
                target_kind=kind,
                target_id=snapshot.target_id,
                target_author=snapshot.author,
                target_author_username=snapshot.author.username,
                reason=reason,
                text=text,
                snapshot_text=snapshot.text,
                context_id=snapshot.context_id,
                context_title=snapshot.context_title,
            )
            ReportImage.objects.bulk_create(
                ReportImage(report=report, position=position, **row) for position, row in enumerate(images)
            )
    except IntegrityError:
        _files_delete_on_commit(saved)
        raise Conflict(ALREADY_REPORTED) from None  # a concurrent report of the same won
    except BaseException:
        _files_delete_on_commit(saved)
        raise
    return report


def reports_close(*, kind: str, target_id: str, status: str, moderator: User) -> int:
    """Close every open report of one target as `status` (resolved or dismissed); return how
    many were open. The one writer of a report's status."""
    return Report.objects.filter(target_kind=kind, target_id=target_id, status=Report.Status.OPEN).update(
        status=status, closed_at=timezone.now(), closed_by=moderator
    )


def report_target_delete(*, report: Report, moderator: User) -> int:
    """Delete the reported content through its app's service (its files go after commit, a
    message's sockets hear `message.deleted`), and resolve every open report of it; return
    the reports closed. Content already gone is not an error: the reports are resolved.
    ValidationError for a user report (deactivate instead); Forbidden when the service
    refuses `moderator` (not staff)."""
    if report.target_kind == Report.Target.USER:
        raise ValidationError(NOTHING_TO_DELETE)
    with transaction.atomic():
        if report.target_kind == Report.Target.POST:
            post = Post.objects.filter(pk=report.target_id).first()
            if post is not None:
                post_delete(post=post, actor=moderator)
        elif report.target_kind == Report.Target.COMMENT:
            comment = Comment.objects.select_related("post").filter(pk=report.target_id).first()
            if comment is not None:
                comment_delete(comment=comment, actor=moderator)
        else:
            message = Message.objects.select_related("chat").filter(pk=int(report.target_id)).first()
            if message is not None:
                message_delete_check(message=message, actor=moderator)
                message_delete(message=message)
        return reports_close(
            kind=report.target_kind, target_id=report.target_id, status=Report.Status.RESOLVED, moderator=moderator
        )


def report_author_deactivate(*, report: Report, moderator: User) -> int:
    """Deactivate the target's author (the reported user themself) through accounts' service,
    which ends their sessions and closes their sockets, and resolve every open report of the
    target; return the reports closed. An author whose account is gone: only the reports close."""
    with transaction.atomic():
        author = User.objects.filter(pk=report.target_author_id).first() if report.target_author_id else None
        if author is not None:
            user_deactivate(user=author)
        return reports_close(
            kind=report.target_kind, target_id=report.target_id, status=Report.Status.RESOLVED, moderator=moderator
        )


def report_dismiss(*, report: Report, moderator: User) -> int:
    """Dismiss every open report of the report's target (nothing wrong found)."""
    return reports_close(
        kind=report.target_kind, target_id=report.target_id, status=Report.Status.DISMISSED, moderator=moderator
    )


def reports_delete(*, reports: Iterable[Report]) -> int:
    """Delete these reports and, after commit, their copied files; return how many."""
    ids = [report.pk for report in reports]
    with transaction.atomic():
        names = [
            name
            for row in ReportImage.objects.filter(report_id__in=ids).values_list("file", "thumb")
            for name in row
            if name
        ]
        deleted = Report.objects.filter(pk__in=ids).delete()[1].get(Report._meta.label, 0)
        _files_delete_on_commit(names)
    return deleted


def reports_prune(*, keep_days: int = KEEP_DAYS_AFTER_CLOSE, batch: int = PRUNE_BATCH) -> int:
    """Delete reports closed more than `keep_days` ago with their evidence, in batches (each
    its own transaction, so a long prune never holds a lock for long); return how many.
    Open reports are never pruned, however old."""
    cutoff = timezone.now() - timedelta(days=keep_days)
    total = 0
    while True:
        expired = Report.objects.filter(closed_at__lt=cutoff).order_by("closed_at")
        ids = list(expired.values_list("pk", flat=True)[:batch])
        if not ids:
            return total
        total += reports_delete(reports=Report.objects.filter(pk__in=ids).only("pk"))
