"""The ranking of the recommended feed as pure functions: facts in, order out (no database)."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from posts.recommendations.ranking import Facts, Signals, Weights, candidates_rank

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
WEIGHTS = Weights(
    friend=8.0,
    friend_liked=4.0,
    similar=2.0,
    popular=1.0,
    fresh=0.25,
    half_life_hours=24.0,
    own_penalty=0.1,
    seen_penalty=0.2,
)
VIEWER, FRIEND, STRANGER = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()


def post(author=STRANGER, *, hours_old=1.0, popularity=0.0, seen=False) -> Facts:
    return Facts(uuid.uuid4(), author, NOW - timedelta(hours=hours_old), popularity, seen)


def order(facts, **signals) -> list:
    ranked = candidates_rank(Signals(viewer_id=VIEWER, facts=facts, **signals), weights=WEIGHTS, now=NOW)
    return [candidate.post_id for candidate in ranked]


def test_nothing_to_rank_is_an_empty_list():
    assert order([]) == []


def test_at_equal_age_friend_then_friend_liked_then_similar_then_popular():
    by_friend, liked_by_friends, liked_by_similar, popular = post(FRIEND), post(), post(), post(popularity=50)
    facts = [popular, liked_by_similar, liked_by_friends, by_friend]

    ranked = order(
        facts,
        friends=frozenset({FRIEND}),
        friend_liked={liked_by_friends.post_id: 3},
        similar={liked_by_similar.post_id: 5},
    )

    assert ranked == [by_friend.post_id, liked_by_friends.post_id, liked_by_similar.post_id, popular.post_id]


def test_a_score_halves_with_every_half_life_of_age():
    fresh, day_old = post(hours_old=0), post(hours_old=24)
    ranked = candidates_rank(Signals(viewer_id=VIEWER, facts=[day_old, fresh]), weights=WEIGHTS, now=NOW)
    assert [c.post_id for c in ranked] == [fresh.post_id, day_old.post_id]
    assert ranked[1].score == pytest.approx(ranked[0].score / 2)


@pytest.mark.parametrize(
    ("facts", "penalty"),
    [(post(VIEWER), WEIGHTS.own_penalty), (post(seen=True), WEIGHTS.seen_penalty)],
    ids=["own post", "seen or liked"],
)
def test_own_and_seen_posts_are_pushed_down_not_removed(facts, penalty):
    plain = Facts(uuid.uuid4(), STRANGER, facts.created_at, facts.popularity, False)
    ranked = candidates_rank(Signals(viewer_id=VIEWER, facts=[facts, plain]), weights=WEIGHTS, now=NOW)
    assert [c.post_id for c in ranked] == [plain.post_id, facts.post_id]
    assert ranked[1].score == pytest.approx(ranked[0].score * penalty)


def test_one_viral_post_does_not_flatten_the_others():
    # share() is logarithmic: a post with a tenth of the top popularity keeps far more than a
    # tenth of the popularity weight.
    viral, modest = post(popularity=1000), post(popularity=100)
    ranked = candidates_rank(Signals(viewer_id=VIEWER, facts=[viral, modest]), weights=WEIGHTS, now=NOW)
    popular_part = ranked[1].score * 2 ** (1 / 24) - WEIGHTS.fresh
    assert popular_part / WEIGHTS.popular > 0.6


def test_ties_go_to_the_newer_post_then_by_id():
    older, newer = post(hours_old=2, popularity=0), post(hours_old=1, popularity=0)
    weights = Weights(**{**WEIGHTS.__dict__, "half_life_hours": 1e12})  # no decay: equal scores
    ranked = candidates_rank(Signals(viewer_id=VIEWER, facts=[older, newer]), weights=weights, now=NOW)
    assert [c.post_id for c in ranked] == [newer.post_id, older.post_id]
    same_time = [post(hours_old=3) for _ in range(5)]
    ranked = candidates_rank(Signals(viewer_id=VIEWER, facts=same_time), weights=weights, now=NOW)
    assert [c.post_id.hex for c in ranked] == sorted(f.post_id.hex for f in same_time)
