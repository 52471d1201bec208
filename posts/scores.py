"""The precomputed, time-decayed popularity of a post: `Post.hot_score`.

    popularity = likes + RECO_VIEW_WEIGHT × views
    hot_score  = log2(1 + popularity) + hours since the epoch of created_at / RECO_HALF_LIFE_HOURS

Ordering by hot_score is ordering by popularity × 2^(-age / half-life), the exponential time
decay of the recommended feed: the log of the decayed value is log2(1 + popularity) − age /
half-life, and "now / half-life" is the same for every post, so it drops out of a comparison.
That is what makes the score storable and indexable (`post_hot_idx`): it changes only when a
post's likes or views change, never because time passes.

Refreshed on write by posts/state.py, the one owner of a post's counters: the UPDATE that
moves a counter recomputes it from the row's own values (`hot_score_expression`), so it never
lags the counters and needs no read-modify-write; a new row gets it with its counters.
`refresh_post_scores` recomputes every post after RECO_VIEW_WEIGHT or RECO_HALF_LIFE_HOURS
change.
"""

import math
from datetime import datetime

from django.conf import settings
from django.db.models import Expression, F, FloatField, Func, Value
from django.db.models.functions import Cast, Ln

LN2 = math.log(2)


def popularity(*, likes: int, views: int) -> float:
    """Likes, plus views at a fraction of a like's worth."""
    return likes + settings.RECO_VIEW_WEIGHT * views


def hot_score(*, created_at: datetime, likes: int = 0, views: int = 0) -> float:
    """A post's hot score, computed in Python (for a new post, and for checking the SQL)."""
    hours = created_at.timestamp() / 3600
    return math.log2(1 + popularity(likes=likes, views=views)) + hours / settings.RECO_HALF_LIFE_HOURS


class EpochSeconds(Func):
    """Seconds since the Unix epoch of a timestamp, as a float, on PostgreSQL and SQLite."""

    output_field = FloatField()
    template = "CAST(EXTRACT(EPOCH FROM %(expressions)s) AS double precision)"

    def as_sqlite(self, compiler, connection, **extra_context):
        # Django stores UTC text on SQLite; julianday() reads it, fractions of a second included.
        return self.as_sql(
            compiler, connection, template="((julianday(%(expressions)s) - 2440587.5) * 86400.0)", **extra_context
        )


def hot_score_expression(*, likes: Expression | None = None, views: Expression | None = None) -> Expression:
    """The same score as SQL over the row being updated.

    In an UPDATE every SET expression reads the row as it was, so a service that moves a
    counter passes the counter's new value (`F("likes_count") + 1`).
    """
    likes = F("likes_count") if likes is None else likes
    views = F("views_count") if views is None else views
    popular = Cast(likes, FloatField()) + Value(settings.RECO_VIEW_WEIGHT) * Cast(views, FloatField())
    return Ln(Value(1.0) + popular) / Value(LN2) + EpochSeconds("created_at") / Value(
        3600.0 * settings.RECO_HALF_LIFE_HOURS
    )
