"""Every write of the posts app: create, delete, like toggles and view records.

A post's counters, popularity and rev move only through posts/state.py, in the same
transaction as the Like/PostView row that justifies them.
"""

import logging
from collections.abc import Sequence

from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone

from accounts.models import User
from posts import signals
from posts.models import SEED_FILES_PREFIX, Comment, Like, Post, PostImage, PostView, post_image_path
from posts.state import post_state_initial, post_state_move
from social.exceptions import DomainError, Forbidden, PostNotFound
from social.images import Media, images_clean
from social.tasks import stored_files_delete_later, stored_files_release

logger = logging.getLogger(__name__)

MAX_IMAGES = 10
MAX_DESCRIPTION = 5000
NOT_THE_AUTHOR = "Нельзя создать пост от имени другого пользователя."
NOT_YOUR_POST = "Удалить пост может только его автор."
NOT_YOUR_LIKE = "Нельзя поставить лайк от имени другого пользователя."
NOT_YOUR_COMMENT = "Удалить комментарий может только его автор, автор поста или модератор."
TOO_MANY_IMAGES = f"Не больше {MAX_IMAGES} изображений в посте."
STORAGE_FAILED = "Не удалось сохранить изображения, попробуйте позже."


class StorageUnavailable(DomainError):
    status_code = 503
    default_message = STORAGE_FAILED


def _files_release(names: Sequence[str]) -> None:
    """Delete these stored post images once the transaction commits (a rolled-back deletion
    keeps them), except the shared demo files."""
    stored_files_release(_not_seed(names))


def _stored_names(images) -> list[str]:
    """Every stored file of these PostImage rows: the original and its variants."""
    return [name for row in images.values_list("file", "thumb", "medium") for name in row if name]


def _not_seed(names: Sequence[str]) -> list[str]:
    return [name for name in names if name and not name.startswith(SEED_FILES_PREFIX)]


def _files_delete(names: Sequence[str]) -> None:
    """Hand these stored files to the background deletion (social/tasks.py) now, except the
    shared demo files."""
    stored_files_delete_later(_not_seed(names))


def post_create(*, author: User, description: str, images: Sequence) -> Post:
    """Create a post with 0–10 images, atomically.

    Preconditions: `author` is the caller (`acting_as_check` with NOT_THE_AUTHOR). Every image
    is decoded and re-encoded (`images_clean`, within the request's decoded-pixel budget) before
    anything is stored, so one bad file (ValidationError naming it, under `images`) stores
    nothing. The files are saved first and the rows written in one transaction afterwards: a
    failed transaction deletes the saved files, and a storage failure deletes those already
    saved (StorageUnavailable, 503), so no post ever points at a missing file.
    """
    if len(images) > MAX_IMAGES:
        raise ValidationError({"images": [TOO_MANY_IMAGES]})
    if len(description) > MAX_DESCRIPTION:
        raise ValidationError({"description": [f"Не больше {MAX_DESCRIPTION} символов."]})
    try:
        cleaned = images_clean(images, media=True)
    except ValidationError as error:
        raise ValidationError({"images": error.messages}) from error

    saved: list[str] = []
    try:
        rows = [_image_store(clean.content, clean.extension, clean.media, saved) for clean in cleaned]
    except Exception as error:
        _files_delete(saved)
        logger.exception("storing post images failed")
        raise StorageUnavailable() from error

    try:
        with transaction.atomic():
            now = timezone.now()
            post = Post.objects.create(
                author=author, description=description, created_at=now, **post_state_initial(created_at=now)
            )
            PostImage.objects.bulk_create(
                PostImage(post=post, position=position, **fields) for position, fields in enumerate(rows)
            )
    except BaseException:
        _files_delete(saved)
        raise
    return post


def _image_store(content, extension: str | None, media: Media, saved: list[str]) -> dict:
    """Store an image's original (unless `extension` is None: it is stored already) and its
    variants, each under a random name, appending every stored name to `saved` (the caller
    deletes them if anything fails); the PostImage fields that name them."""
    fields: dict = {}
    if extension is not None:
        saved.append(default_storage.save(post_image_path(None, f"image.{extension}"), content))
        fields["file"] = saved[-1]
    fields.update(width=media.width, height=media.height, blurhash=media.blurhash)
    for variant, made in media.variants.items():
        saved.append(default_storage.save(post_image_path(None, "image.webp"), made.content))
        fields.update({variant: saved[-1], f"{variant}_width": made.width, f"{variant}_height": made.height})
    return fields


def post_image_media_add(*, image_id: int, media: Media) -> bool:
    """Store the variants of an existing post image (manage.py backfill_media) and record
    them, unless it has them already; True when this call added them.

    Idempotent and safe to race: the row is updated only while its `thumb` is still empty, in
    the same transaction as the post's rev (its cached encodings then show `media`); a losing
    or failing call deletes what it stored."""
    saved: list[str] = []
    try:
        fields = _image_store(None, None, media, saved)
        with transaction.atomic():
            updated = PostImage.objects.filter(pk=image_id, thumb="").update(**fields)
            if updated:
                post_id = PostImage.objects.filter(pk=image_id).values_list("post_id", flat=True)
                post_state_move(posts=Post.objects.filter(pk__in=post_id))
    except BaseException:
        _files_delete(saved)
        raise
    if not updated:
        _files_delete(saved)
    return bool(updated)


def post_delete(*, post: Post, actor: User) -> None:
    """Delete a post (its author or staff; Forbidden otherwise) and, once the deletion has
    committed, its files: a rolled-back deletion must not leave a post without its images."""
    if post.author_id != actor.pk and not actor.is_staff:
        raise Forbidden(NOT_YOUR_POST)
    with transaction.atomic():
        # Lock the post row first. like_toggle and post_view_record update this row before
        # they insert a Like/PostView, so they either finish before we collect the rows to
        # cascade (and are deleted with the post), or wait and then find no post (404).
        # Without the lock a like inserted between Django's cascade collection and the
        # post's DELETE fails the deferred foreign key at commit: a 500.
        if not list(Post.objects.select_for_update().filter(pk=post.pk).values_list("pk", flat=True)):
            return  # already deleted by a concurrent request
        names = _stored_names(PostImage.objects.filter(post=post))
        post.delete()
        _files_release(names)


class _AlreadyCounted(Exception):
    """Internal: this viewer's row already exists; roll the counter back."""


def like_toggle(*, post_id, user: User) -> bool:
    """Like the post if `user` has not, unlike it if they have; True when it is now liked.

    Preconditions: `user` is the caller. NotFound when the post does not exist (or vanished
    meanwhile). Toggles of one user are serialized by a lock on their own row (FOR NO KEY
    UPDATE, which leaves foreign keys to the user unblocked), so racing toggles behave as
    sequential ones; toggles of different users never wait for each other beyond the counter
    update. The unique (post, user) constraint stays the last word.
    """
    try:
        with transaction.atomic():
            list(User.objects.select_for_update(no_key=True).filter(pk=user.pk).values_list("pk", flat=True))
            removed, _ = Like.objects.filter(post_id=post_id, user=user).delete()
            if removed:
                post_state_move(posts=Post.objects.filter(pk=post_id), likes=-1)
                _reaction_send(signals.post_unliked, post_id=post_id, actor_id=user.pk)
                return False
            # The counter first: it locks the post row and proves the post exists, since
            # PostgreSQL checks our (deferred) foreign keys only at commit.
            moved = post_state_move(posts=Post.objects.filter(pk=post_id), likes=+1)
            if not moved:
                raise PostNotFound()
            Like.objects.create(post_id=post_id, user=user)
            _reaction_send(signals.post_liked, post_id=post_id, actor_id=user.pk)
            return True
    except IntegrityError:
        # The post was deleted between our update and the commit.
        raise PostNotFound() from None


def _reaction_send(signal, *, post_id, actor_id) -> None:
    """Tell the apps above (notifications) of a like or unlike, in its transaction."""
    author_id = Post.objects.filter(pk=post_id).values_list("author_id", flat=True).first()
    signal.send(sender=Post, post_id=post_id, author_id=author_id, actor_id=actor_id)


def post_view_record(*, post_id, viewer: User) -> bool:
    """Count `viewer` once among the post's viewers; True when this was their first view.

    The author's own views do not count. NotFound when the post does not exist. The PostView
    row (unique per post and viewer) and the counter move in one transaction, so concurrent
    first views of one viewer count once and the counter equals the rows.
    """
    author_id = Post.objects.filter(pk=post_id).values_list("author_id", flat=True).first()
    if author_id is None:
        raise PostNotFound()
    if author_id == viewer.pk or PostView.objects.filter(post_id=post_id, viewer=viewer).exists():
        return False  # the common case of a repeated view costs no write
    try:
        with transaction.atomic():
            # The counter first: it locks the post row (concurrent first views queue here)
            # and proves the post still exists, since foreign keys are checked at commit.
            moved = post_state_move(posts=Post.objects.filter(pk=post_id), views=+1)
            if not moved:
                raise PostNotFound()
            try:
                with transaction.atomic():
                    PostView.objects.create(post_id=post_id, viewer=viewer)
            except IntegrityError:
                raise _AlreadyCounted() from None
    except _AlreadyCounted:
        return False  # a concurrent request of the same viewer counted it first
    except IntegrityError:
        raise PostNotFound() from None  # the post went between update and commit
    return True


def post_edit(*, post: Post, fields: Sequence[str]) -> None:
    """Save the edited `fields` of a post (the admin's form) and move its rev, without
    writing the counters a concurrent like or view may have moved since the post was read."""
    if not fields:
        return
    with transaction.atomic():
        post.save(update_fields=list(fields))
        post_state_move(posts=Post.objects.filter(pk=post.pk))


def post_representations_touch(*, user_id) -> int:
    """Move the rev of every post that shows this user: their own (the author object) and
    those they liked (the embedded likers). Call it after their username, email or avatar
    changed. A rare write, as wide as their likes; returns the number of posts touched."""
    liked = Like.objects.filter(user_id=user_id).values("post_id")
    return post_state_move(posts=Post.objects.filter(Q(author_id=user_id) | Q(pk__in=liked)))


def user_posts_files_release(*, user_id) -> None:
    """Before a user is deleted (their posts go with them by cascade): delete their posts'
    stored files once the deletion has committed, as post_delete does for one post."""
    _files_release(_stored_names(PostImage.objects.filter(post__author_id=user_id)))


def user_reactions_withdraw(*, user_id) -> None:
    """Take back a user's likes and views with their counters, before the user is deleted:
    the cascade alone would delete the rows and leave the counters, the popularity and the
    cached encodings of those posts behind."""
    with transaction.atomic():
        # Their own like toggles wait (or find their likes gone), as in like_toggle.
        list(User.objects.select_for_update(no_key=True).filter(pk=user_id).values_list("pk", flat=True))
        reactions = [
            (Like.objects.filter(user_id=user_id), "likes"),
            (PostView.objects.filter(viewer_id=user_id), "views"),
            (Comment.objects.filter(author_id=user_id), "comments"),
        ]
        for rows, counter in reactions:
            # One UPDATE per distinct number of rows on a post (one like per post; comments
            # may be many on one post).
            per_post = rows.values("post_id").annotate(n=Count("pk")).values_list("post_id", "n")
            by_count: dict[int, list] = {}
            for post_id, n in per_post:
                by_count.setdefault(n, []).append(post_id)
            for n, post_ids in by_count.items():
                post_state_move(posts=Post.objects.filter(pk__in=post_ids), **{counter: -n})
            rows.delete()


def comment_create(*, post_id, author: User, text: str) -> Comment:
    """Write a comment on a post and move its `comments_count` (and rev) in the same
    transaction. Preconditions: `text` is checked (1–2000 characters, not only whitespace).
    PostNotFound when the post does not exist or vanishes meanwhile."""
    try:
        with transaction.atomic():
            # The counter first, as like_toggle: it locks the post row and proves the post
            # exists, since PostgreSQL checks our (deferred) foreign keys only at commit.
            if not post_state_move(posts=Post.objects.filter(pk=post_id), comments=+1):
                raise PostNotFound()
            comment = Comment.objects.create(post_id=post_id, author=author, text=text)
            post_author_id = Post.objects.filter(pk=post_id).values_list("author_id", flat=True).first()
            signals.comment_created.send(sender=Comment, comment=comment, post_id=post_id, author_id=post_author_id)
    except IntegrityError:
        raise PostNotFound() from None  # the post went between our update and the commit
    return comment


def comment_delete(*, comment: Comment, actor: User) -> None:
    """Delete a comment (its author, the post's author or staff; Forbidden otherwise) and move
    the post's counter back, once however many deletes race.

    The post row is locked first (the order comment_create and post_delete take), then the
    comment deleted: a concurrent second delete waits, then deletes no row and moves nothing."""
    if actor.pk not in (comment.author_id, comment.post.author_id) and not actor.is_staff:
        raise Forbidden(NOT_YOUR_COMMENT)
    with transaction.atomic():
        list(Post.objects.select_for_update(no_key=True).filter(pk=comment.post_id).values_list("pk", flat=True))
        deleted = Comment.objects.filter(pk=comment.pk).delete()[1].get(Comment._meta.label, 0)
        if deleted:
            post_state_move(posts=Post.objects.filter(pk=comment.post_id), comments=-1)
