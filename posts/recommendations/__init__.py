"""The recommended feed, `GET /api/posts/recommended`: the same post objects as the feed,
ranked for the caller. README "Recommended feed" says the same for operators.

Candidates (first page of a walk only; each pool at most RECO_CANDIDATES posts, each one
bounded SQL query, none per post):
- friends' posts: the newest posts of the caller's friends (the `post_author_feed_idx`);
- friend-liked: posts that friends liked, with how many friends liked each;
- similar taste: "co-likers" are the users who liked what the caller liked recently (those with
  the most likes in common first); the posts they liked, with how many of them liked each;
- popular and recent: the highest `Post.hot_score` (time-decayed popularity, precomputed on
  write, see posts/scores.py) — one index range scan. For a new user with no friends and no
  likes it is the only pool: the cold start page is popular and recent posts.
The social pools look only at posts of the last RECO_WINDOW_DAYS: older ones have decayed to
nothing (2^-14 at the defaults) and the window keeps those aggregates small.

Score of a candidate (every weight a setting, social/settings.py):

    (RECO_WEIGHT_FRIEND         × [author is a friend]
   + RECO_WEIGHT_FRIEND_LIKED   × share(friends who liked it)
   + RECO_WEIGHT_SIMILAR        × share(co-likers who liked it)
   + RECO_WEIGHT_POPULAR        × share(likes + RECO_VIEW_WEIGHT × views)
   + RECO_WEIGHT_FRESH)                                 a base, so freshness alone still ranks
   × 2^(-age / RECO_HALF_LIFE_HOURS)                    time decay, fresh posts first
   × RECO_OWN_PENALTY   for the caller's own posts      pushed down, not removed
   × RECO_SEEN_PENALTY  for posts the caller viewed or liked

share(x) = log(1 + x) / log(1 + the largest x among the candidates), in [0, 1]: the best post
of a signal gets its full weight, the log keeps one viral post from flattening the others.
With equal ages and the default weights 8/4/2/1 a friend's post therefore outranks any post
friends liked, which outranks one popular with similar people, which outranks one merely popular.

A walk is a snapshot: the first page ranks the candidates, spreads authors out (at most
RECO_AUTHOR_CAP posts of one author in any stretch of `limit` consecutive posts; what the cap
holds back moves further down, never out) and stores the resulting list of post ids in the
shared cache under a random snapshot id for RECO_SNAPSHOT_TTL seconds. The `Link` cursor names
the snapshot and a position in it, so a walk never shows a post twice, whatever new posts and
likes arrive meanwhile; a later page costs what a feed page costs (`posts.selectors.post_refs_of`
and the feed's renderer, posts/fragments.py). A cursor whose snapshot expired is a 400.

The package, one job per module: `candidates` (the SQL of the pools and of the facts scoring
needs), `ranking` (the score and the author spread: pure functions of those facts), `snapshots`
(the walk's ids in the shared cache and its cursors) and `pages` (a page of the walk).
"""

from posts.recommendations.pages import RecommendedRead, kept_page_of_session, recommended_page
from posts.recommendations.ranking import Candidate, authors_spread
from posts.recommendations.snapshots import STALE_CURSOR

__all__ = [
    "STALE_CURSOR",
    "Candidate",
    "RecommendedRead",
    "authors_spread",
    "kept_page_of_session",
    "recommended_page",
]
