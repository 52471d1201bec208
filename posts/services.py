"""Every write of the posts app: create, delete, like toggles and view records.

A post's counters, popularity and rev move only through posts/state.py, in the same
transaction as the Like/PostView row that justifies them.
"""

import logging
from collections.abc import Sequence
from functools import lru_cache
from typing import NamedTuple

from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Q
from django.utils import timezone

from accounts.models import User
from accounts.selectors import (
    SESSION_USER_ACCEPTED_SQL,
    SESSION_USER_WIDTH,
    SessionClaims,
    claims_user,
    session_accepted_params,
    session_user_of_row,
)
from posts import signals
from posts.models import SEED_FILES_PREFIX, Comment, Like, Post, PostImage, PostView, post_image_path
from posts.selectors import post_visible_get
from posts.state import (
    PostMoved,
    post_state_initial,
    post_state_like_move_sql,
    post_state_move,
    post_state_move_one,
)
from safety.selectors import AUTHOR_VISIBLE_SQL, author_visible
from social.db import prepared_cursor
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
    saved and the one being saved (StorageUnavailable, 503), so no post ever points at a
    missing file and no file outlives its failed post.
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
        fields["file"] = _file_store(post_image_path(None, f"image.{extension}"), content, saved)
    fields.update(width=media.width, height=media.height, blurhash=media.blurhash)
    for variant, made in media.variants.items():
        name = _file_store(post_image_path(None, "image.webp"), made.content, saved)
        fields.update({variant: name, f"{variant}_width": made.width, f"{variant}_height": made.height})
    return fields


def _file_store(name: str, content, saved: list[str]) -> str:
    """Store `content` under `name`, recorded in `saved` *before* the upload starts: an upload
    the storage gave up answering (a timeout) may still land once the storage wakes up, and its
    name must then be among those deleted. Deleting a name that was never stored is harmless
    (random names never collide: social/uploads.py)."""
    saved.append(name)
    saved[-1] = default_storage.save(name, content)
    return saved[-1]


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


class LikeToggled(NamedTuple):
    """A like toggle's outcome: whether the post is now liked, and the post's state after it
    (its new rev: the caller answers the post from its cached encoding, posts/fragments.py)."""

    liked: bool
    post: PostMoved


# A like toggle in one statement, committed on its own (issue #26: it was ten, then six round
# trips with BEGIN, a lock statement and the notification's statement, and COMMIT). In order,
# each step reading the one before it, so PostgreSQL runs them in this order:
# 1. `actor`: the caller's own row, locked FOR NO KEY UPDATE (foreign keys to the user stay
#    unblocked): a user's deletion (user_reactions_withdraw) holds it while it takes their
#    likes back, so a toggle waits for it, then finds no row (404) instead of liking anew.
#    With the token's check in the statement (a Bearer request), only for a token the session
#    rule accepts; a toggle that waited for a deactivation or deletion finds none (401).
# 2. `target`: the post, if the caller may see it (safety's rule), locked as its UPDATE will
#    (FOR NO KEY UPDATE): the toggles of one post queue here, and a post's deletion (which
#    locks the row first) is either waited for (no row: 404) or waits for us.
# 3. `removed`: the caller's like deleted, if there is one; else `added`: inserted, after the
#    post's lock, so its created_at (the database clock, read then) comes in the same order as
#    the rev among the likes of one post, as the likers' order needs (posts/fragments.py moves
#    a cached encoding by exactly this toggle).
# 4. `moved`: the post's state by -1 or +1, only when 3 changed a row.
# 5. The writes of the app above that asked for them (signals.like_toggle_writes: the author's
#    notification, by notifications' own SQL) over `toggled` (one row only when 4 moved): the
#    two apps' rows commit together, in one round trip.
# A statement reads the likes as they were when it started, not when it got its locks: a toggle
# of the same user and post that committed in between is seen only by the index, whose unique
# (post, user) entry makes 3 change nothing (ON CONFLICT DO NOTHING; a deleted like is skipped).
# The statement then writes nothing, and like_toggle runs it again with a fresh snapshot: racing
# toggles of one user behave as sequential ones, and the counter moves only with a row.
_LIKE_DELTA_SQL = "(CASE WHEN EXISTS (SELECT FROM removed) THEN -1 ELSE 1 END)"
_LIKE_TOGGLE_SQL = f"""
WITH actor AS (
    {{actor}}
), target AS (
    SELECT p.id, p.author_id FROM {Post._meta.db_table} AS p
    WHERE p.id = %(post)s AND EXISTS (SELECT FROM actor) {AUTHOR_VISIBLE_SQL}
    FOR NO KEY UPDATE OF p
), removed AS (
    DELETE FROM {Like._meta.db_table} WHERE post_id = (SELECT id FROM target) AND user_id = %(viewer)s
    RETURNING 1
), added AS (
    INSERT INTO {Like._meta.db_table} (post_id, user_id, created_at)
    SELECT target.id, %(viewer)s, clock_timestamp() FROM target WHERE NOT EXISTS (SELECT FROM removed)
    ON CONFLICT (post_id, user_id) DO NOTHING
    RETURNING 1
), moved AS (
    {{move}} WHERE id = (SELECT id FROM target) AND (EXISTS (SELECT FROM removed) OR EXISTS (SELECT FROM added))
    RETURNING id, rev, author_id, created_at
), toggled AS (
    SELECT author_id AS recipient_id, %(viewer)s AS actor_id, id AS post_id, EXISTS (SELECT FROM added) AS liked
    FROM moved
){{writes}}
SELECT {{head}}moved.rev, moved.author_id, moved.created_at, EXISTS (SELECT FROM added){{written}}
FROM {{source}} LEFT JOIN moved ON true
"""

# `actor` (1. above) and what the statement's row starts with, by how the caller was checked:
# - before the statement (DRF's authentication, or the ORM's steps): the caller's row by id;
#   no row when `target` found nothing (a missing or hidden post), else the toggle's columns.
# - in it (like_toggle_of_session: a Bearer request, SessionCheckInView): the row of the user
#   a token speaks for, locked only when accounts' session rule accepts the token
#   (SESSION_USER_ACCEPTED_SQL): a refused token locks no `actor`, so `target` is empty and
#   nothing is written. The row is then the caller's columns (none: refused, 401), whether
#   `target` was found (404 when not), and the toggle's columns.
_LIKE_ACTOR_BY_ID = (f"SELECT id FROM {User._meta.db_table} WHERE id = %(viewer)s FOR NO KEY UPDATE", "", "target")
_LIKE_ACTOR_OF_SESSION = (
    f"{SESSION_USER_ACCEPTED_SQL} FOR NO KEY UPDATE",
    "actor.*, target.id, ",
    "actor LEFT JOIN target ON true",
)


@lru_cache(maxsize=8)
def _like_toggle_sql(move_sql: str, writes: str, written: str, *, of_session: bool) -> str:
    # The text as written: prepared_cursor sends it compacted (social.db.sql_compacted).
    actor, head, source = _LIKE_ACTOR_OF_SESSION if of_session else _LIKE_ACTOR_BY_ID
    return _LIKE_TOGGLE_SQL.format(actor=actor, move=move_sql, writes=writes, written=written, head=head, source=source)


def _like_toggle_statement(*, of_session: bool) -> tuple[str, dict, bool]:
    """The toggle's statement (its actor as `_like_toggle_sql` says), its parameters but the
    post's and the caller's, and whether it writes the notification (its last columns)."""
    move_sql, params = post_state_like_move_sql(delta_sql=_LIKE_DELTA_SQL)
    make = signals.like_toggle_writes()
    writes = make(toggled="toggled") if make is not None else None
    if writes is None:
        return _like_toggle_sql(move_sql, "", "", of_session=of_session), params, False
    sql = _like_toggle_sql(move_sql, f", {writes.ctes}", f", {writes.columns}", of_session=of_session)
    return sql, {**params, **writes.params}, True


def _like_toggle_run(sql: str, params: dict, *, found_at: int | None) -> tuple | None:
    """The toggle statement's row (None: none), run again after a racing toggle of this user
    and post changed nothing (see _LIKE_TOGGLE_SQL): until the post moved, or was not found
    (`found_at`: the column that says whether `target` was; without it, a row means found)."""
    while True:
        try:
            with prepared_cursor(connection) as cursor:
                cursor.execute(sql, params)
                row = cursor.fetchone()
        except IntegrityError:
            raise PostNotFound() from None  # a deferred foreign key failed at commit: a row it names went
        if row is None or (found_at is not None and row[found_at] is None):
            return row
        if row[0 if found_at is None else found_at + 1] is not None:  # the post's new rev: it moved
            return row


def like_toggle(*, post_id, user: User) -> LikeToggled:
    """Like the post if `user` has not, unlike it if they have.

    Preconditions: `user` is the caller. NotFound when the post does not exist (or vanished
    meanwhile) or `user` may not see it (safety's rule, checked in the toggle's statement).
    Racing toggles of one user behave as sequential ones; toggles of different users never
    wait for each other beyond the post's row. The unique (post, user) constraint stays the
    last word. On PostgreSQL one statement, in autocommit when no transaction is open: the
    author's notification goes out once it has committed (social.events)."""
    if connection.vendor != "postgresql":  # the SQLite of `make run`: the same steps through the ORM
        post_visible_get(post_id=post_id, viewer=user)
        return _like_toggle_orm(post_id=post_id, user=user)
    sql, params, notifies = _like_toggle_statement(of_session=False)
    row = _like_toggle_run(sql, {**params, "post": post_id, "viewer": user.pk}, found_at=None)
    if row is None:  # no such post, one `user` may not see, or no `user` any more
        raise PostNotFound()
    return _like_toggled(post_id=post_id, user=user, row=row, notifies=notifies)


def like_toggle_of_session(*, post_id, claims: SessionClaims) -> tuple[User | None, LikeToggled | None]:
    """`like_toggle` by the user a token with `claims` speaks for, the token's check
    (accounts.selectors.session_user's rule) in the toggle's one statement: (that user, the
    toggle), (that user, None) for a post that does not exist or they may not see, or (None,
    None) when the check refuses the token: then nothing was written.

    Preconditions: the like is the claims' user's own (the path's user id is theirs)."""
    if connection.vendor != "postgresql":
        user = claims_user(claims)
        if user is None:
            return None, None
        try:
            return user, like_toggle(post_id=post_id, user=user)
        except PostNotFound:
            return user, None
    sql, params, notifies = _like_toggle_statement(of_session=True)
    params = {**params, **session_accepted_params(claims), "post": post_id, "viewer": claims.user_id}
    try:
        row = _like_toggle_run(sql, params, found_at=SESSION_USER_WIDTH)
    except PostNotFound:  # the deferred foreign key's case: whose token it was, read on its own
        return claims_user(claims), None
    user = session_user_of_row(row, issued_at=claims.issued_at)
    if user is None:  # no row: the rule refused the token (or no such user)
        return None, None
    if row[SESSION_USER_WIDTH] is None:  # `target`'s id: no post the user may see
        return user, None
    return user, _like_toggled(post_id=post_id, user=user, row=row[SESSION_USER_WIDTH + 1 :], notifies=notifies)


def _like_toggled(*, post_id, user: User, row: tuple, notifies: bool) -> LikeToggled:
    # The toggle's columns of its statement's row (the post moved): announced, and answered.
    rev, author_id, created_at, liked, *notified = row
    moved = PostMoved(rev, author_id, created_at)
    _like_toggled_send(
        post_id=post_id, moved=moved, user=user, liked=liked, notified=tuple(notified) if notifies else None
    )
    return LikeToggled(liked=liked, post=moved)


def _like_toggled_send(*, post_id, moved: PostMoved, user: User, liked: bool, notified: tuple | None = None) -> None:
    # `notified`: the toggle's statement wrote (and, unless a transaction is open, committed)
    # the author's notification: the receiver announces it. Else (the ORM's steps) we are in the
    # toggle's transaction and the receivers' writes commit or roll back with the like.
    signal = signals.post_liked if liked else signals.post_unliked
    signal.send(
        sender=Post, post_id=post_id, author_id=moved.author_id, actor_id=user.pk, actor=user, notified=notified
    )


def _like_toggle_orm(*, post_id, user: User) -> LikeToggled:
    """`like_toggle`'s steps one statement each, on databases without UPDATE … RETURNING in a
    WITH (the embedded SQLite)."""
    try:
        with transaction.atomic():
            list(User.objects.select_for_update(no_key=True).filter(pk=user.pk).values_list("pk", flat=True))
            removed, _ = Like.objects.filter(post_id=post_id, user=user).delete()
            # The counter first when liking: it locks the post row and proves the post exists.
            moved = post_state_move_one(post_id=post_id, likes=-1 if removed else +1)
            if moved is None:
                raise PostNotFound()
            if not removed:
                Like.objects.create(post_id=post_id, user=user)
            _like_toggled_send(post_id=post_id, moved=moved, user=user, liked=not removed)
            return LikeToggled(liked=not removed, post=moved)
    except IntegrityError:
        raise PostNotFound() from None


def post_view_record(*, post_id, viewer: User) -> bool:
    """Count `viewer` once among the post's viewers; True when this was their first view.

    The author's own views do not count. NotFound when the post does not exist or `viewer`
    may not see it (safety's rule: the view is not counted either). The PostView
    row (unique per post and viewer) and the counter move in one transaction, so concurrent
    first views of one viewer count once and the counter equals the rows.
    """
    visible = Post.objects.filter(author_visible(viewer=viewer), pk=post_id)
    author_id = visible.values_list("author_id", flat=True).first()
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


def user_content_purge(*, user_id, limit: int) -> int:
    """One step of a deleted account's purge (accounts.signals.user_purging), in the step's
    transaction: remove at most `limit` rows of the first kind that has any, in this order,
    and return how many (0: nothing of the user's is left here).

    1. the user's likes, views and comments, with the counters of the posts they were on;
    2. the others' likes, views and comments on the user's posts, with no counter: the post
       goes in 3, and meanwhile its author's deletion hides it;
    3. the user's posts with their images' rows; the stored files go once the step commits.

    Precondition: the user can no longer act (their account is deleted), so only a post's
    deletion, or a comment's by someone else, may remove these rows meanwhile. Both lock the
    post row first; so does this step, before it counts what it deletes, so a counter never
    moves for a row someone else deleted.
    """
    for rows, counter in (
        (Like.objects.filter(user_id=user_id), "likes"),
        (PostView.objects.filter(viewer_id=user_id), "views"),
        (Comment.objects.filter(author_id=user_id), "comments"),
    ):
        if removed := _reactions_batch_withdraw(rows=rows, counter=counter, limit=limit):
            return removed
    for model in (Like, PostView, Comment):
        batch = list(model.objects.filter(post__author_id=user_id).order_by("pk").values_list("pk", flat=True)[:limit])
        if batch:
            model.objects.filter(pk__in=batch).delete()
            return len(batch)
    posts = Post.objects.filter(author_id=user_id).order_by("pk").select_for_update()
    batch = list(posts.values_list("pk", flat=True)[:limit])
    if batch:
        names = _stored_names(PostImage.objects.filter(post_id__in=batch))
        Post.objects.filter(pk__in=batch).delete()
        _files_release(names)
    return len(batch)


def _reactions_batch_withdraw(*, rows, counter: str, limit: int) -> int:
    """Delete at most `limit` of these Like/PostView/Comment rows and move `counter` of the
    posts they were on by what was really deleted; return the number deleted."""
    batch = list(rows.order_by("pk").values_list("pk", "post_id")[:limit])
    if not batch:
        return 0
    # The posts first, in one order (as comment_delete and post_delete take them): a
    # concurrent deletion of one of these rows has finished by the count below, or waits.
    post_ids = sorted({post_id for _, post_id in batch})
    list(Post.objects.select_for_update(no_key=True).filter(pk__in=post_ids).order_by("pk").values_list("pk"))
    chosen = rows.filter(pk__in=[pk for pk, _ in batch])
    by_count: dict[int, list] = {}
    for post_id, n in chosen.values("post_id").annotate(n=Count("pk")).values_list("post_id", "n").order_by():
        by_count.setdefault(n, []).append(post_id)
    chosen.delete()
    for n, moved_ids in by_count.items():
        post_state_move(posts=Post.objects.filter(pk__in=moved_ids), **{counter: -n})
    return len(batch)


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
