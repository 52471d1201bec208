"""The one owner of a post's denormalized state: `likes_count`, `views_count`, `comments_count`,
`hot_score`, `rev`.

Every writer goes through these functions: the services (likes, views, edits, a profile
change, a deleted user's reactions), the admin, the seeding and `refresh_post_scores`. So the
rules live in one place:

- a counter moves with an F() expression in one UPDATE, in the transaction of the
  Like/PostView/Comment row that justifies it, so it never drifts from the rows;
- `hot_score` (posts/scores.py) is computed in that same UPDATE from the counters' new values
  (every SET expression of an UPDATE reads the row as it was);
- `rev` moves with every write that changes what a post shows, which is how the cached
  encodings of posts/fragments.py learn that they are stale.

A new counter is one more keyword here.
"""

from datetime import datetime
from functools import lru_cache
from typing import NamedTuple

from django.conf import settings
from django.db import connection
from django.db.models import F, IntegerField, QuerySet
from django.db.models.expressions import RawSQL
from django.db.models.sql import UpdateQuery

from posts.models import Post
from posts.scores import hot_score, hot_score_expression


class PostMoved(NamedTuple):
    """What a writer of one post learns from the UPDATE that moved it."""

    rev: int
    author_id: object
    created_at: datetime


def post_state_initial(*, created_at: datetime, likes: int = 0, views: int = 0) -> dict:
    """The state fields of a new post row (a created post, one added in the admin, a seeded one
    whose reactions are written beside it): counters and the popularity that goes with them."""
    popularity = hot_score(created_at=created_at, likes=likes, views=views)
    return {"likes_count": likes, "views_count": views, "hot_score": popularity}


def post_state_move(*, posts: QuerySet, likes: int = 0, views: int = 0, comments: int = 0) -> int:
    """Move the state of `posts` in one UPDATE: counters by the given deltas, the popularity
    from their new values, and the rev (also alone, when nothing else moves: a shown change).
    Returns the number of posts moved (0: none of them exists, e.g. deleted meanwhile).
    Comments are shown (`comments_count`) but do not score: they move the rev, not the popularity."""
    return posts.update(**_changes(likes=likes, views=views, comments=comments))


def post_state_move_one(*, post_id, likes: int = 0, views: int = 0, comments: int = 0) -> PostMoved | None:
    """`post_state_move` of one post, answering its new rev, its author and its creation time
    (None: it does not exist). One `UPDATE … RETURNING` on PostgreSQL: a like toggle answers
    the post from its cached encoding (posts/fragments.py) and tells the author's
    notifications without reading the row again."""
    posts = Post.objects.filter(pk=post_id)
    if connection.vendor != "postgresql":  # the embedded SQLite default: update, then read
        if not post_state_move(posts=posts, likes=likes, views=views, comments=comments):
            return None
        row = posts.values_list("rev", "author_id", "created_at").first()
        return PostMoved(*row) if row else None
    query = posts.query.chain(UpdateQuery)
    query.add_update_values(_changes(likes=likes, views=views, comments=comments))
    sql, params = query.get_compiler(connection=connection).as_sql()
    with connection.cursor() as cursor:
        cursor.execute(f"{sql} RETURNING rev, author_id, created_at", params)
        row = cursor.fetchone()
    return PostMoved(*row) if row else None


def post_state_like_move_sql(*, delta_sql: str) -> tuple[str, dict]:
    """The `UPDATE posts_post SET …` of a like's state move (no WHERE: the caller adds it), as
    SQL and its parameters, when the statement itself decides the likes' delta: `delta_sql`
    is SQL worth +1 or -1 (the like toggle's, which learns in the same statement whether it
    removed a like). The same SET `post_state_move` writes, compiled by the ORM once per
    process and scoring settings: compiling it per toggle cost more CPU than the rest of the
    toggle's statements together. Its parameters are named (`%(post_state_0)s`, …), so that
    the caller's statement may name its own."""
    return _like_move_sql(delta_sql, settings.RECO_VIEW_WEIGHT, settings.RECO_HALF_LIFE_HOURS)


@lru_cache(maxsize=8)
def _like_move_sql(delta_sql: str, *scoring) -> tuple[str, dict]:
    # `scoring` keys the cache only: the settings go into the SQL as parameters.
    query = UpdateQuery(Post)
    query.add_update_values(_changes(likes=RawSQL(delta_sql, (), output_field=IntegerField()), views=0, comments=0))
    sql, params = query.get_compiler(connection=connection).as_sql()
    names = [f"post_state_{n}" for n in range(len(params))]
    # The compiler's text holds no other `%` (column names and SQL functions only).
    return sql % tuple(f"%({name})s" for name in names), dict(zip(names, params, strict=True))


def _changes(*, likes, views: int, comments: int) -> dict:
    """The SET of a state move: counters by their deltas, the popularity from their new values,
    the rev by one."""
    changes = {"rev": F("rev") + 1}
    if comments:
        changes["comments_count"] = F("comments_count") + comments
    moved = {}
    if likes:
        moved["likes"] = changes["likes_count"] = F("likes_count") + likes
    if views:
        moved["views"] = changes["views_count"] = F("views_count") + views
    if moved:
        changes["hot_score"] = hot_score_expression(**moved)
    return changes


def post_state_rescore(*, posts: QuerySet) -> int:
    """Recompute the popularity of `posts` from their counters (after the scoring settings
    changed); the rev stays, since the popularity is not shown."""
    return posts.update(hot_score=hot_score_expression())
