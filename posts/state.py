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

from django.db.models import F, QuerySet

from posts.scores import hot_score, hot_score_expression


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
    return posts.update(**changes)


def post_state_rescore(*, posts: QuerySet) -> int:
    """Recompute the popularity of `posts` from their counters (after the scoring settings
    changed); the rev stays, since the popularity is not shown."""
    return posts.update(hot_score=hot_score_expression())
