"""Every non-trivial read of the posts app.

A page of posts is read in two steps. `feed_page`/`user_posts_page` read the page's rows
(`PostRef`: id, rev, the viewer's `liked_by_me`): one query. Then `post_details` reads the
representation's data of the posts whose encoding is not cached (posts/fragments.py) as bare
rows, whatever their number and however many images and likes they have: the posts with their
authors, their images, and their most recent likers (at most POST_LIKES_EMBEDDED per post, cut
per post in SQL): one prepared statement, a JSON aggregate per post and kind, on PostgreSQL; three ORM
queries on the embedded SQLite (a window function for the likers).
"""

from collections import defaultdict, namedtuple
from collections.abc import Iterator
from itertools import islice

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Exists, F, OuterRef, QuerySet, Window
from django.db.models.functions import RowNumber
from orjson import loads

from accounts.models import User
from accounts.selectors import (
    SESSION_USER_SQL,
    SESSION_USER_WIDTH,
    SessionClaims,
    claims_user,
    deleted_user_ids,
    session_statement_row,
    session_user_of_row,
)
from posts.models import Comment, Like, Post, PostImage
from safety.selectors import AUTHOR_VISIBLE_SQL, author_visible
from social.db import count_subquery, page_limit, prepared_cursor
from social.exceptions import CommentNotFound, PostNotFound, UserNotFound
from social.pagination import Page, PageRequest, cursor_values, keyset_filter, page_cut, take_page

KEY_FIELDS = ("created_at", "id")
KEY_SIZE = len(KEY_FIELDS)


def _row_key(row) -> tuple:
    return (row.created_at.isoformat(), row.id)


# A user who liked a post, read as bare values: a page embeds up to 20 × POST_LIKES_EMBEDDED
# of them, where a model instance each would cost more than the query (and a frozen dataclass
# each, a tenth of reading a cold page: issue #26). `avatar_name` is None without an avatar;
# `user_id` is the UUID, or its text where post_details reads it.
Liker = namedtuple("Liker", ["user_id", "username", "email", "avatar_name"])


# One stored image of a post with its media (EXTENSIONS.md §7), read as bare values like Liker.
ImageMedia = namedtuple(
    "ImageMedia",
    ["file", "width", "height", "blurhash", "thumb", "thumb_width", "thumb_height"]
    + ["medium", "medium_width", "medium_height"],
)


_DETAIL_FIELDS = (
    "id",
    "description",
    "created_at",
    "likes_count",
    "views_count",
    "comments_count",
    "rev",
    "author__id",
    "author__username",
    "author__avatar",
)


# What a page of posts reads besides the posts' cached encodings (posts/fragments.py).
PostRef = namedtuple("PostRef", ["id", "created_at", "rev", "liked_by_me"])


def _liked_by(viewer: User) -> Exists:
    """Whether `viewer` likes the row's post: the `liked_by_me` of a post's representation."""
    return Exists(Like.objects.filter(post=OuterRef("pk"), user_id=viewer.pk))


def post_refs(*, viewer: User) -> QuerySet:
    """PostRef-shaped rows (named tuples with the same fields), newest first, of the posts
    `viewer` may see (safety's rule: active authors, no block between them)."""
    return (
        Post.objects.filter(author_visible(viewer=viewer))
        .annotate(liked_by_me=_liked_by(viewer))
        .order_by("-created_at", "-id")
        .values_list(*PostRef._fields, named=True)
    )


# What a post's representation needs besides the viewer's `liked_by_me`, as bare values: the
# post's columns, its author's, its images (ImageMedia, in position order) and its most recent
# likers (Liker, at most POST_LIKES_EMBEDDED). posts/fragments.py encodes these rows.
PostDetail = namedtuple(
    "PostDetail",
    ["id", "description", "created_at", "likes_count", "views_count", "comments_count", "rev"]
    + ["author_id", "author_username", "author_avatar", "image_media", "likers"],
)

# The posts of a page that no process has encoded yet, with their authors, images and recent
# likers, in one prepared statement of bare columns: through the ORM (three queries, a model
# instance per post and author) the read cost more CPU than anything else in a page from deep
# in the feed (issue #26). The likers as in _RECENT_LIKERS_SQL (at most %(likers)s index entries
# of `like_recent_idx` per post, then a primary key probe each). The users' ids come as text,
# which is all the representation makes of them: a liker's row is then plain strings, which the
# likers' encodings (posts/fragments.py) hash and compare in C, not UUID's Python methods.
#
# Each post's images and likers come as one JSON array of arrays each (json_agg of
# json_build_array, in the aggregate's own ORDER BY), which orjson parses in C: as 14 parallel
# arrays (one array_agg per field) PostgreSQL wrote, and psycopg parsed, every field as an
# array element of its own text, and both sides' share of a cold page was the larger (issue
# #26: this process's CPU 0.54 -> 0.36 ms, the PostgreSQL backend's 1.08 -> 0.92 ms a page of
# 20 posts, least of 7 alternating rounds on `make bench`'s data). Two sorts per post, each of
# its own few rows, and the order is the aggregates' own: nothing to check afterwards.
_IMAGE_FIELDS = ", ".join(f"i.{name}" for name in ImageMedia._fields)
_DETAILS_SQL = f"""
SELECT p.id, p.description, p.created_at, p.likes_count, p.views_count, p.comments_count, p.rev,
       author.id::text, author.username, NULLIF(author.avatar, ''),
       (
           SELECT json_agg(json_build_array({_IMAGE_FIELDS}) ORDER BY i.position)
           FROM {PostImage._meta.db_table} AS i
           WHERE i.post_id = p.id
       )::text,
       (
           SELECT json_agg(
               json_build_array(liker.id::text, liker.username, liker.email, NULLIF(liker.avatar, ''))
               ORDER BY recent.created_at DESC, recent.id DESC
           )
           FROM (
               SELECT l.user_id, l.created_at, l.id
               FROM {Like._meta.db_table} AS l
               WHERE l.post_id = p.id
               ORDER BY l.created_at DESC, l.id DESC
               LIMIT %(likers)s
           ) AS recent
           CROSS JOIN LATERAL (
               SELECT u.id, u.username, u.email, u.avatar
               FROM {User._meta.db_table} AS u
               WHERE u.id = recent.user_id
               OFFSET 0
           ) AS liker
       )::text
FROM {Post._meta.db_table} AS p
JOIN {User._meta.db_table} AS author ON author.id = p.author_id
WHERE p.id = ANY(%(ids)s::uuid[])
"""


def post_details(*, ids: list) -> list[PostDetail]:
    """PostDetail rows of the posts of `ids` that exist, in no order: one query on PostgreSQL.
    `liked_by_me` is not read: it is the viewer's, and the encoding leaves it out
    (posts/fragments.py)."""
    if not ids:
        return []
    if connection.vendor != "postgresql":  # the SQLite of `make run`: the same rows through the ORM
        return [post_detail_of(post) for post in posts_detailed(ids=ids)]
    with prepared_cursor(connection) as cursor:
        cursor.execute(_DETAILS_SQL, {"ids": ids, "likers": max(settings.POST_LIKES_EMBEDDED, 0)})
        rows = cursor.fetchall()
    # An aggregate over no rows is NULL: a post without images or likers.
    return [
        PostDetail(
            *row[:10],
            [ImageMedia(*image) for image in loads(row[10])] if row[10] is not None else [],
            [Liker(*liker) for liker in loads(row[11])] if row[11] is not None else [],
        )
        for row in rows
    ]


def post_detail_of(post: Post) -> PostDetail:
    """The PostDetail of a post read with its details (`with_details`)."""
    return PostDetail(
        post.pk,
        post.description,
        post.created_at,
        post.likes_count,
        post.views_count,
        post.comments_count,
        post.rev,
        post.author.pk,
        post.author.username,
        post.author.avatar.name or None,
        post.image_media,
        post.recent_likers,
    )


def posts_detailed(*, ids: list) -> list[Post]:
    """The posts of `ids` that exist (any order), with what their representation needs
    (authors, `image_names`, `recent_likers`): three queries."""
    posts = list(Post.objects.select_related("author").only(*_DETAIL_FIELDS).filter(pk__in=ids))
    return with_details(posts)


def posts_for(*, viewer: User) -> QuerySet[Post]:
    """The posts `viewer` may see with their authors and the viewer's `liked_by_me`, newest
    first. Evaluate a page of them with `with_details`, which adds their images and recent likers."""
    return (
        Post.objects.filter(author_visible(viewer=viewer))
        .select_related("author")
        .only(*_DETAIL_FIELDS)
        .annotate(liked_by_me=_liked_by(viewer))
        .order_by("-created_at", "-id")
    )


# Per post, its most recent likers through `like_recent_idx`: the LATERAL subquery reads at
# most `per_post` index entries of each post, however many likes a viral post has. Each liker
# is then one primary key probe: joined plainly, the planner hashed the whole users table for
# the page's ~200 likers (a sequential scan of 3,000 users: two thirds of the query's time on
# the bench's data, and growing with every sign-up); the `OFFSET 0` keeps it from flattening
# the lateral subquery back into that join (issue #26: 3.5 -> 1.1 ms per cold page).
_RECENT_LIKERS_SQL = f"""
SELECT page.post_id, liker.id, liker.username, liker.email, liker.avatar
FROM unnest(%s::uuid[]) AS page(post_id)
CROSS JOIN LATERAL (
    SELECT l.user_id, l.created_at, l.id
    FROM {Like._meta.db_table} AS l
    WHERE l.post_id = page.post_id
    ORDER BY l.created_at DESC, l.id DESC
    LIMIT %s
) AS recent
CROSS JOIN LATERAL (
    SELECT u.id, u.username, u.email, u.avatar FROM {User._meta.db_table} AS u WHERE u.id = recent.user_id OFFSET 0
) AS liker
ORDER BY page.post_id, recent.created_at DESC, recent.id DESC
"""


def _recent_likers(post_ids: list, per_post: int) -> dict:
    """{post id: [Liker, most recent first]} for at most `per_post` likers of each post."""
    if not post_ids or per_post <= 0:
        return {}
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_RECENT_LIKERS_SQL, [post_ids, per_post])
            rows = cursor.fetchall()
    else:
        # The embedded default (SQLite) has no LATERAL: a ROW_NUMBER() window per post.
        rank = Window(RowNumber(), partition_by=F("post_id"), order_by=[F("created_at").desc(), F("id").desc()])
        rows = (
            Like.objects.filter(post_id__in=post_ids)
            .annotate(rank=rank)
            .filter(rank__lte=per_post)
            .order_by("post_id", "-created_at", "-id")
            .values_list("post_id", "user_id", "user__username", "user__email", "user__avatar")
        )
    likers: dict = {}
    for post_id, user_id, username, email, avatar in rows:
        likers.setdefault(post_id, []).append(Liker(user_id, username, email, avatar or None))
    return likers


def with_details(posts: list[Post]) -> list[Post]:
    """Attach to each post `image_names` and `image_media` (in position order) and `recent_likers` (at most
    POST_LIKES_EMBEDDED, most recent first): two queries for the whole page."""
    if not posts:
        return posts
    ids = [post.pk for post in posts]
    images: dict = {}
    # The media columns come in the same query as the names: `media` costs no query.
    for row in (
        PostImage.objects.filter(post_id__in=ids)
        .order_by("post_id", "position")
        .values_list("post_id", *ImageMedia._fields, named=True)
    ):
        images.setdefault(row.post_id, []).append(ImageMedia(*row[1:]))
    likers = _recent_likers(ids, settings.POST_LIKES_EMBEDDED)
    for post in posts:
        post.image_media = images.get(post.pk, [])
        post.image_names = [image.file for image in post.image_media]
        post.recent_likers = likers.get(post.pk, [])
    return posts


# The page query of the feed and of a user's posts, written out for PostgreSQL: it runs on
# every page read, and building and compiling it with the ORM cost more than PostgreSQL spends
# running it (README "Performance and tuning"). The same
# query as post_refs + keyset_filter, which serve the embedded SQLite default. The redundant
# bound on created_at starts the index range scan at the cursor (see keyset_filter).
# The page is cut before `liked_by_me` is looked up: with the EXISTS beside the ORDER BY ...
# LIMIT, the planner expects it for every post of the table and answers it by reading all the
# viewer's likes into a hash (a heavy liker's thousands) instead of the page's 20 index probes.
# AUTHOR_VISIBLE_SQL is safety's read rule (an active author, no block either way): per row
# scanned, a primary key probe of the author and a probe of the hashed set of users separated
# from the viewer, inside the LIMITed scan, so the page stays one index range scan of posts.
# The LIMIT is written into the text: the page is drawn from the whole table (social.db.page_limit
# says why).
_REFS_SQL = f"""
SELECT page.id, page.created_at, page.rev,
       EXISTS (SELECT 1 FROM {Like._meta.db_table} AS l WHERE l.post_id = page.id AND l.user_id = %(viewer)s)
       AS liked_by_me
FROM (
    SELECT p.id, p.created_at, p.rev
    FROM {Post._meta.db_table} AS p
    WHERE TRUE {{author}} {{after}} {AUTHOR_VISIBLE_SQL}
    ORDER BY p.created_at DESC, p.id DESC
    {{limit}}
) AS page
ORDER BY page.created_at DESC, page.id DESC
"""
_REFS_AUTHOR = "AND p.author_id = %(author)s"
_REFS_AFTER = "AND p.created_at <= %(at)s AND (p.created_at < %(at)s OR (p.created_at = %(at)s AND p.id < %(id)s))"


def refs_query(*, viewer_id, page: PageRequest, author_id=None) -> tuple[str, dict]:
    """The PostgreSQL page query of `_refs_page` and its parameters (the bench EXPLAINs it)."""
    params = {"viewer": viewer_id}
    if author_id is not None:
        params["author"] = author_id
    if page.after is not None:
        params["at"], params["id"] = cursor_values([Post._meta.get_field(name) for name in KEY_FIELDS], page.after)
    limit, _ = page_limit(rows=page.limit + 1, whole_table=True)
    sql = _REFS_SQL.format(
        author=_REFS_AUTHOR if author_id is not None else "",
        after=_REFS_AFTER if page.after is not None else "",
        limit=limit,
    )
    return sql, params


def _refs_page(*, viewer: User, page: PageRequest, author_id=None) -> Page:
    """One page of PostRef rows, newest first, of every post or of one author's: one query."""
    if connection.vendor != "postgresql":
        queryset = post_refs(viewer=viewer)
        if author_id is not None:
            queryset = queryset.filter(author_id=author_id)
        queryset = keyset_filter(queryset, fields=KEY_FIELDS, after=page.after)
        return take_page(queryset, limit=page.limit, key=_row_key)
    sql, params = refs_query(viewer_id=viewer.pk, page=page, author_id=author_id)
    with prepared_cursor(connection) as db:
        db.execute(sql, params)
        rows = [PostRef(*row) for row in db.fetchall()]
    return page_cut(rows, limit=page.limit, key=_row_key)


# The rows of given posts (a recommended page: ids of the viewer's ranking) in one prepared
# statement, the same columns and read rule as _REFS_SQL. Through the ORM, building and compiling
# `post_refs(...).filter(pk__in=...)` cost more CPU than the rest of a kept first page (issue #26).
_REFS_OF_SQL = f"""
SELECT p.id, p.created_at, p.rev,
       EXISTS (SELECT 1 FROM {Like._meta.db_table} AS l WHERE l.post_id = p.id AND l.user_id = %(viewer)s)
       AS liked_by_me
FROM {Post._meta.db_table} AS p
WHERE p.id = ANY(%(ids)s::uuid[]) {AUTHOR_VISIBLE_SQL}
"""


def post_refs_of(*, viewer: User, ids: list) -> dict:
    """{post id: PostRef} of the posts of `ids` that exist and `viewer` may see (safety's rule):
    one query, in no order."""
    if not ids:
        return {}
    if connection.vendor != "postgresql":
        return {ref.id: ref for ref in post_refs(viewer=viewer).filter(pk__in=ids)}
    with prepared_cursor(connection) as db:
        db.execute(_REFS_OF_SQL, {"viewer": viewer.pk, "ids": ids})
        return {row[0]: PostRef(*row) for row in db.fetchall()}


# post_refs_of's rows and the check of the token's user (accounts.selectors.session_user) in one
# prepared statement, as the feed's (feed_page_of_session): a recommended first page from a kept
# ranking (issue #26). No user row: no row at all.
_SESSION_REFS_OF_SQL = f"""
SELECT viewer.*, refs.*
FROM ({SESSION_USER_SQL}) AS viewer
CROSS JOIN LATERAL (
    SELECT {", ".join(f"array_agg(refs.{name})" for name in PostRef._fields)}
    FROM ({_REFS_OF_SQL.replace("%(viewer)s", "%(user)s")}) AS refs
) AS refs
"""


def post_refs_of_session(*, claims: SessionClaims, ids: list) -> tuple[User | None, dict | None]:
    """(the user a token with `claims` speaks for, as `accounts.selectors.session_user`
    answers, and that user's `post_refs_of` for `ids`); (None, None) when that check refuses
    the token. One query on PostgreSQL."""
    if connection.vendor != "postgresql":
        viewer = claims_user(claims)
        return (viewer, post_refs_of(viewer=viewer, ids=ids)) if viewer is not None else (None, None)
    viewer, columns = session_statement_row(_SESSION_REFS_OF_SQL, {"ids": ids}, claims=claims)
    if viewer is None:
        return None, None
    # An aggregate over no rows is NULL: none of the posts is left (or `ids` is empty).
    return viewer, ({ref.id: ref for ref in map(PostRef, *columns)} if columns[0] is not None else {})


def feed_page(*, viewer: User, page: PageRequest) -> Page:
    """One page of every post as PostRef rows, newest first (keyset on the indexed
    (created_at, id)): one query. posts/fragments.py renders it."""
    return _refs_page(viewer=viewer, page=page)


# The feed's page and the check of the token's user (accounts.selectors.session_user) in one
# prepared statement: the page's rows are aggregated into four parallel arrays beside the
# user's row, which comes first and alone decides whether the caller is answered. Each
# statement cost this process ~0.1 ms of CPU and PostgreSQL its own round of bind, snapshot and
# executor, on every feed request (issue #26). The page is read whatever the user check says
# (the same rows a statement of its own would read); it is dropped when the check refuses.
# No user row (an unknown id): no row at all.
_PAGE_ARRAYS = ", ".join(
    f"array_agg(refs.{name} ORDER BY refs.created_at DESC, refs.id DESC)" for name in PostRef._fields
)
_SESSION_FEED_SQL = f"""
SELECT viewer.*, page.*
FROM ({SESSION_USER_SQL}) AS viewer
CROSS JOIN LATERAL (SELECT {_PAGE_ARRAYS} FROM ({{refs}}) AS refs) AS page
"""
# By (whether the page has a cursor, its limit): refs_query's texts for the whole feed.
_SESSION_FEED_SQLS: dict[tuple, str] = {}


def feed_page_of_session(*, claims: SessionClaims, page: PageRequest) -> tuple[User | None, Page | None]:
    """(the user a token with `claims` speaks for, as `accounts.selectors.session_user` answers,
    and that user's `feed_page`); (None, None) when that check refuses the token. One query on
    PostgreSQL; two elsewhere."""
    if connection.vendor != "postgresql":
        viewer = claims_user(claims)
        return (viewer, feed_page(viewer=viewer, page=page)) if viewer is not None else (None, None)
    refs_sql, params = refs_query(viewer_id=claims.user_id, page=page)
    key = (page.after is not None, page.limit)
    sql = _SESSION_FEED_SQLS.get(key)
    if sql is None:  # at most 2 × MAX_LIMIT texts
        sql = _SESSION_FEED_SQLS[key] = _SESSION_FEED_SQL.format(refs=refs_sql)
    viewer, columns = session_statement_row(sql, params, claims=claims)
    if viewer is None:
        return None, None
    # An aggregate over no rows is NULL: an empty feed.
    rows = list(map(PostRef, *columns)) if columns[0] is not None else []
    return viewer, page_cut(rows, limit=page.limit, key=_row_key)


def _author_check(user_id) -> None:
    if not User.objects.filter(pk=user_id).exists():
        raise UserNotFound()


# A user's posts page and whether that user exists (UserNotFound) in one prepared statement:
# the existence check was a statement of its own, ~0.1 ms of this process's CPU and a round of
# PostgreSQL's per-statement work on every page (issue #26). The page's rows come as parallel
# arrays beside the flag, read whatever it says (no rows for an unknown author). The page's
# statement is planned for each execution, and rightly so (bench/posts_plans.py: a plan for any
# author reads all of a prolific author's posts in a bitmap scan); the flag adds one primary key
# probe to it.
_USER_POSTS_SQL = f"""
SELECT EXISTS (SELECT 1 FROM {User._meta.db_table} AS author WHERE author.id = %(author)s), page.*
FROM (SELECT {_PAGE_ARRAYS} FROM ({{refs}}) AS refs) AS page
"""
# The same with the check of the token's user first (accounts.selectors.session_user), as the
# feed's (feed_page_of_session): no user row, no row at all.
_SESSION_USER_POSTS_SQL = f"""
SELECT viewer.*, posts.*
FROM ({SESSION_USER_SQL}) AS viewer
CROSS JOIN LATERAL ({_USER_POSTS_SQL}) AS posts
"""
# By (whether the statement checks the token's user, whether the page has a cursor, its
# limit): at most 4 × MAX_LIMIT texts.
_USER_POSTS_SQLS: dict[tuple, str] = {}


def _user_posts_read(*, user_id, viewer_id, page: PageRequest, session: str | None = None, checked: bool):
    """The row of _USER_POSTS_SQL (`checked`: of _SESSION_USER_POSTS_SQL, whose user is
    `viewer_id` in `session`). A cursor whose values do not parse: UserNotFound for an unknown
    user, else ValidationError (400), as the two statements answered."""
    try:
        refs_sql, params = refs_query(viewer_id=viewer_id, page=page, author_id=user_id)
    except ValidationError:
        _author_check(user_id)
        raise
    key = (checked, page.after is not None, page.limit)
    sql = _USER_POSTS_SQLS.get(key)
    if sql is None:
        sql = _SESSION_USER_POSTS_SQL if checked else _USER_POSTS_SQL
        sql = _USER_POSTS_SQLS[key] = sql.format(refs=refs_sql)
    if checked:
        params["user"], params["session"] = viewer_id, session
    with prepared_cursor(connection) as db:
        db.execute(sql, params)
        return db.fetchone()


def _user_posts_of_row(row, *, page: PageRequest) -> Page | None:
    # (the author found, the page's four arrays): None for an unknown author.
    found, *columns = row
    if not found:
        return None
    # An aggregate over no rows is NULL: a user without posts (that the viewer may see).
    rows = list(map(PostRef, *columns)) if columns[0] is not None else []
    return page_cut(rows, limit=page.limit, key=_row_key)


def user_posts_page(*, user_id, viewer: User, page: PageRequest) -> Page:
    """One page of one user's posts as PostRef rows, newest first. NotFound for an unknown
    user. One query on PostgreSQL."""
    if connection.vendor != "postgresql":
        _author_check(user_id)
        return _refs_page(viewer=viewer, page=page, author_id=user_id)
    row = _user_posts_read(user_id=user_id, viewer_id=viewer.pk, page=page, checked=False)
    posts = _user_posts_of_row(row, page=page)
    if posts is None:
        raise UserNotFound()
    return posts


def user_posts_page_of_session(*, claims: SessionClaims, user_id, page: PageRequest) -> tuple[User | None, Page | None]:
    """(the user a token with `claims` speaks for, as `accounts.selectors.session_user`
    answers, and that user's `user_posts_page`, or None for an unknown author); (None, None)
    when that check refuses the token. One query on PostgreSQL. A cursor whose values do not
    parse: UserNotFound or ValidationError before any statement, the caller checking the token
    first."""
    if connection.vendor != "postgresql":
        viewer = claims_user(claims)
        if viewer is None:
            return None, None
        try:
            return viewer, user_posts_page(user_id=user_id, viewer=viewer, page=page)
        except UserNotFound:
            return viewer, None
    row = _user_posts_read(
        user_id=user_id, viewer_id=claims.user_id, page=page, session=claims.session_id, checked=True
    )
    viewer = session_user_of_row(row, issued_at=claims.issued_at)
    if viewer is None:
        return None, None
    return viewer, _user_posts_of_row(row[SESSION_USER_WIDTH:], page=page)


def post_detail(*, post_id, viewer: User) -> Post:
    """One post with its representation's data. NotFound for an unknown post or one the
    viewer may not see (safety's rule)."""
    post = posts_for(viewer=viewer).filter(pk=post_id).first()
    if post is None:
        raise PostNotFound()
    return with_details([post])[0]


def post_get(*, post_id) -> Post:
    """The bare post (for permission checks before a write). NotFound for an unknown post."""
    post = Post.objects.only("id", "author_id").filter(pk=post_id).first()
    if post is None:
        raise PostNotFound()
    return post


# The read rule's check written out and prepared: it runs before every like toggle and every
# comments page (issue #26: compiling the ORM's form cost more than PostgreSQL's answer).
_POST_VISIBLE_SQL = f"""
SELECT p.author_id FROM {Post._meta.db_table} AS p WHERE p.id = %(post)s {AUTHOR_VISIBLE_SQL}
"""


def post_visible_get(*, post_id, viewer: User) -> Post:
    """The bare post (its id and author_id only), if `viewer` may see it (safety's rule: an
    active author, no block between them): the check before a like or a comment, and before
    reading its likers or comments. NotFound otherwise, as for an unknown post."""
    if connection.vendor != "postgresql":  # the SQLite of `make run`: the same rule through the ORM
        post = Post.objects.only("id", "author_id").filter(author_visible(viewer=viewer), pk=post_id).first()
        if post is None:
            raise PostNotFound()
        return post
    return _post_visible_read(post_id=post_id, viewer_id=viewer.pk)


def _post_visible_read(*, post_id, viewer_id) -> Post:
    # post_visible_get on PostgreSQL, by the viewer's id.
    with prepared_cursor(connection) as cursor:
        cursor.execute(_POST_VISIBLE_SQL, {"post": post_id, "viewer": viewer_id})
        row = cursor.fetchone()
    if row is None:
        raise PostNotFound()
    return Post(id=post_id, author_id=row[0])


def posts_count_of_author():
    """How many posts the user of the outer query (OuterRef("pk")) wrote: a correlated count,
    for a query of users (a public profile)."""
    return count_subquery(Post.objects.filter(author=OuterRef("pk")))


def post_likers_page(*, post_id, viewer: User, page: PageRequest) -> Page:
    """One page of the users who liked a post, most recent like first. NotFound for an
    unknown post or one `viewer` may not see. Keyset on the like's (created_at, id), served
    by `like_recent_idx`."""
    post_visible_get(post_id=post_id, viewer=viewer)
    likes = Like.objects.filter(post_id=post_id).select_related("user").order_by("-created_at", "-id")
    likes = keyset_filter(likes, fields=KEY_FIELDS, after=page.after)
    rows = take_page(likes, limit=page.limit, key=_row_key)
    return Page(items=[like.user for like in rows.items], next_cursor=rows.next_cursor)


# A post's comments page written out and prepared, its columns read into tuples (issue #26).
# Oldest first; the keyset bound as social.pagination.keyset_filter writes it ascending.
_COMMENTS_SQL = f"""
SELECT c.id, c.post_id, c.text, c.created_at, author.id AS author_id, author.username, author.avatar
FROM {Comment._meta.db_table} AS c JOIN {User._meta.db_table} AS author ON author.id = c.author_id
WHERE c.post_id = %(post)s
  AND c.author_id NOT IN (SELECT gone.id FROM {User._meta.db_table} AS gone WHERE gone.deleted_at IS NOT NULL)
  {{after}}
ORDER BY c.created_at, c.id
{{limit}}
"""
_COMMENTS_AFTER = "AND c.created_at >= %(at)s AND (c.created_at > %(at)s OR (c.created_at = %(at)s AND c.id > %(id)s))"


def _comments_statement(*, post_id, page: PageRequest, checked: bool) -> tuple[str, dict]:
    """The comments page's PostgreSQL statement and parameters (`checked`: _SESSION_COMMENTS_SQL's,
    the caller adding the token's `user` and `session`). ValidationError (400) for a cursor whose
    values do not parse, before any statement runs."""
    params = {"post": post_id}
    if page.after is not None:
        params["at"], params["id"] = cursor_values([Comment._meta.get_field(name) for name in KEY_FIELDS], page.after)
    # The LIMIT bound: the page is drawn from one post's comments (social.db.page_limit); its
    # generic plan, the ordered scan of comment_post_page_idx, is kept (bench/posts_plans.py).
    limit, limit_params = page_limit(rows=page.limit + 1, whole_table=False)
    params.update(limit_params)
    key = (checked, page.after is not None, limit)
    sql = _COMMENTS_STATEMENTS.get(key)
    if sql is None:
        sql = _COMMENTS_SQL.format(after=_COMMENTS_AFTER if page.after is not None else "", limit=limit)
        if checked:
            sql = _SESSION_COMMENTS_SQL.format(page=sql)
        _COMMENTS_STATEMENTS[key] = sql
    return sql, params


def post_comments_page(*, post_id, viewer: User, page: PageRequest) -> Page:
    """One page of a post's comments with their authors, oldest first, as bare rows (id,
    post_id, text, created_at, author id, author username, author avatar) for
    `posts.serializers.comment_items`: two queries (the post's visibility, the page) however
    many comments it has. NotFound for an unknown post or one `viewer` may not see. Keyset on
    (created_at, id) within the post, served by `comment_post_page_idx`."""
    post_visible_get(post_id=post_id, viewer=viewer)
    if connection.vendor != "postgresql":  # the SQLite of `make run`: the same rows through the ORM
        comments = Comment.objects.filter(post_id=post_id).exclude(author_id__in=deleted_user_ids())
        comments = keyset_filter(
            comments.order_by("created_at", "id"), fields=KEY_FIELDS, after=page.after, descending=False
        )
        comments = comments.values_list(
            "id", "post_id", "text", "created_at", "author__id", "author__username", "author__avatar"
        )
        return take_page(comments, limit=page.limit, key=_comment_key)
    # A deleted account's comments are hidden at once, before the purge removes them.
    with prepared_cursor(connection) as cursor:
        cursor.execute(*_comments_statement(post_id=post_id, page=page, checked=False))
        rows = cursor.fetchall()
    return page_cut(rows, limit=page.limit, key=_comment_key)


# The comments page, the check of the token's user (accounts.selectors.session_user) and the
# post's read rule (_POST_VISIBLE_SQL, as that user) in one prepared statement, as the feed's
# (feed_page_of_session): three statements a page before, each ~0.1 ms of this process's CPU
# and a round of PostgreSQL's per-statement work (issue #26). The user's row comes first and
# alone decides whether the caller is answered; then the post's author (NULL: the user may not
# see the post, a 404); then the page's rows as parallel arrays, read whatever the two checks
# say and dropped when either refuses.
_COMMENT_ARRAYS = ", ".join(
    f"array_agg(page.{name} ORDER BY page.created_at, page.id)"
    for name in ("id", "post_id", "text", "created_at", "author_id", "username", "avatar")
)
_SESSION_COMMENTS_SQL = f"""
SELECT viewer.*, visible.author_id, comments.*
FROM ({SESSION_USER_SQL}) AS viewer
LEFT JOIN ({_POST_VISIBLE_SQL.replace("%(viewer)s", "%(user)s")}) AS visible ON TRUE
CROSS JOIN LATERAL (SELECT {_COMMENT_ARRAYS} FROM ({{page}}) AS page) AS comments
"""
# By (checked with the user, whether the page has a cursor, its LIMIT clause).
_COMMENTS_STATEMENTS: dict[tuple, str] = {}


def post_comments_page_of_session(
    *, claims: SessionClaims, post_id, page: PageRequest
) -> tuple[User | None, Page | None]:
    """(the user a token with `claims` speaks for, as `accounts.selectors.session_user`
    answers, and that user's `post_comments_page`, or None when the user may not see the post);
    (None, None) when the check refuses the token. One query on PostgreSQL. A cursor whose
    values do not parse: PostNotFound for a post the token's user may not see, else
    ValidationError (400), as post_comments_page orders them, before any statement that
    checks the token: the caller checks it first."""
    if connection.vendor != "postgresql":
        viewer = claims_user(claims)
        if viewer is None:
            return None, None
        try:
            return viewer, post_comments_page(post_id=post_id, viewer=viewer, page=page)
        except PostNotFound:
            return viewer, None
    try:
        sql, params = _comments_statement(post_id=post_id, page=page, checked=True)
    except ValidationError:
        _post_visible_read(post_id=post_id, viewer_id=claims.user_id)
        raise
    viewer, rest = session_statement_row(sql, params, claims=claims)
    if viewer is None:
        return None, None
    visible_author, *columns = rest
    if visible_author is None:
        return viewer, None
    # An aggregate over no rows is NULL: a post without comments.
    rows = list(zip(*columns, strict=True)) if columns[0] is not None else []
    return viewer, page_cut(rows, limit=page.limit, key=_comment_key)


def _comment_key(row) -> tuple:
    return (row[3].isoformat(), row[0])


def comment_get(*, post_id, comment_id) -> Comment:
    """A comment of this post with the post's author (for the delete permission). NotFound for
    an unknown post or a comment not on it."""
    if not Post.objects.filter(pk=post_id).exists():
        raise PostNotFound()
    comment = Comment.objects.select_related("post").only("id", "author_id", "post__id", "post__author_id")
    comment = comment.filter(pk=comment_id, post_id=post_id).first()
    if comment is None:
        raise CommentNotFound()
    return comment


# --- Export (accounts.export, through the user_exporting signal) -------------------------------
EXPORT_CHUNK = 500


def user_posts_export(*, user_id) -> Iterator[dict]:
    """A user's posts for their export, oldest first, read in chunks (10,000 posts must not
    sit in memory): id, description, created_at and the archive paths of their images. Bare
    values and one image query per chunk: model instances and prefetching cost half the time."""
    rows = (
        Post.objects.filter(author_id=user_id)
        .order_by("created_at", "id")
        .values_list("id", "description", "created_at")
        .iterator(chunk_size=EXPORT_CHUNK)
    )
    while chunk := list(islice(rows, EXPORT_CHUNK)):
        images = defaultdict(list)
        names = PostImage.objects.filter(post_id__in=[row[0] for row in chunk]).order_by("post_id", "position")
        for post_id, name in names.values_list("post_id", "file"):
            images[post_id].append(f"images/{name}")
        for post_id, description, created_at in chunk:
            yield {
                "id": str(post_id),
                "description": description,
                "created_at": created_at,
                "images": images[post_id],
            }


def user_liked_post_ids(*, user_id) -> Iterator[str]:
    """The ids of the posts a user likes, oldest like first."""
    likes = Like.objects.filter(user_id=user_id).order_by("created_at", "id").values_list("post_id", flat=True)
    return (str(post_id) for post_id in likes.iterator(chunk_size=EXPORT_CHUNK))


def user_comments_export(*, user_id) -> Iterator[dict]:
    """A user's comments for their export, oldest first, read in chunks: id, the post's id,
    text and created_at (the `comment_author_idx` index finds them)."""
    comments = (
        Comment.objects.filter(author_id=user_id)
        .order_by("created_at", "id")
        .values_list("id", "post_id", "text", "created_at")
    )
    for comment_id, post_id, text, created_at in comments.iterator(chunk_size=EXPORT_CHUNK):
        yield {"id": str(comment_id), "post_id": str(post_id), "text": text, "created_at": created_at}


def user_post_files(*, user_id) -> Iterator[str]:
    """The stored names of the original images of a user's posts."""
    images = PostImage.objects.filter(post__author_id=user_id).order_by("id").values_list("file", flat=True)
    return images.iterator(chunk_size=EXPORT_CHUNK)
