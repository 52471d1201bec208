"""Reads of the moderation app: what a report is about, as the reporter could see it."""

from dataclasses import dataclass, field
from uuid import UUID

from django.core.exceptions import ValidationError

from accounts.models import User
from chats.models import ChatMember, Message
from chats.selectors import MESSAGE_NOT_FOUND
from moderation.models import Report
from posts.models import Comment, Post, PostImage
from social.exceptions import CommentNotFound, NotFound, PostNotFound, UserNotFound

INVALID_TARGET_ID = "Некорректный идентификатор."


@dataclass
class TargetSnapshot:
    """What a report keeps of its target: whose it is, its text, where it was, its images."""

    kind: str
    target_id: str
    author: User
    text: str
    context_id: str = ""
    context_title: str = ""
    # (original, thumb) stored names of the images to copy; thumb may be "".
    images: list[tuple[str, str]] = field(default_factory=list)


def _uuid(value) -> UUID:
    try:
        return UUID(str(value))
    except ValueError:
        raise ValidationError({"id": [INVALID_TARGET_ID]}) from None


def _message_id(value) -> int:
    # A JSON number or its ASCII digits as a string (str.isdigit alone admits "²", which int()
    # refuses); anything else (a float, a bool) is malformed.
    digits = isinstance(value, str) and value.isascii() and value.isdigit()
    if isinstance(value, bool) or not (isinstance(value, int) or digits):
        raise ValidationError({"id": [INVALID_TARGET_ID]})
    number = int(value)
    if not 0 < number < 2**63:
        raise ValidationError({"id": [INVALID_TARGET_ID]})
    return number


def report_target(*, kind: str, target_id, reporter: User) -> TargetSnapshot:
    """The target of a report by `reporter` as it is now, for its snapshot.

    Only what the reporter could see: a post or comment that exists, a message of a chat they
    are in, an active user; NotFound (the kind's message) otherwise. Blocks do not count (a
    user may report someone they blocked, or who blocked them), so this reads the tables
    directly rather than through the block-aware selectors. ValidationError on `id` when the id
    is malformed for the kind (a UUID; a positive integer for a message)."""
    if kind == Report.Target.POST:
        post = Post.objects.select_related("author").filter(pk=_uuid(target_id)).first()
        if post is None:
            raise PostNotFound()
        images = PostImage.objects.filter(post=post).order_by("position").values_list("file", "thumb")
        return TargetSnapshot(
            kind=kind, target_id=str(post.pk), author=post.author, text=post.description, images=list(images)
        )
    if kind == Report.Target.COMMENT:
        comment = Comment.objects.select_related("author").filter(pk=_uuid(target_id)).first()
        if comment is None:
            raise CommentNotFound()
        return TargetSnapshot(
            kind=kind,
            target_id=str(comment.pk),
            author=comment.author,
            text=comment.text,
            context_id=str(comment.post_id),
        )
    if kind == Report.Target.MESSAGE:
        message = Message.objects.select_related("user", "chat").filter(pk=_message_id(target_id)).first()
        if message is None or not ChatMember.objects.filter(chat_id=message.chat_id, user=reporter).exists():
            raise NotFound(MESSAGE_NOT_FOUND)  # a chat you are not in: you never saw it
        return TargetSnapshot(
            kind=kind,
            target_id=str(message.pk),
            author=message.user,
            text=message.text,
            context_id=str(message.chat_id),
            context_title=message.chat.title,
        )
    user = User.objects.filter(pk=_uuid(target_id), is_active=True).first()
    if user is None:
        raise UserNotFound()
    images = [(user.avatar.name, "")] if user.avatar else []
    return TargetSnapshot(kind=kind, target_id=str(user.pk), author=user, text=user.username, images=images)
