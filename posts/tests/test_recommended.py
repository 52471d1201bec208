"""The recommended feed (`GET /api/posts/recommended`) on hand-built graphs of users,
friendships, likes and views: real PostgreSQL and Redis, writes through the real services."""

import json
import math
import re
import uuid
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from accounts.tests.factories import UserFactory
from friends.models import Friendship
from friends.services import friendship_add
from posts.models import Post
from posts.recommendations import STALE_CURSOR, Candidate, authors_spread
from posts.scores import hot_score
from posts.services import like_toggle, post_view_record
from posts.tests.factories import LikeFactory, PostFactory, PostImageFactory
from social.pagination import decode_cursor, encode_cursor
from testsupport.pages import next_url

pytestmark = pytest.mark.django_db

URL = "/api/posts/recommended"
CREDENTIALS = {"detail": "Не удалось подтвердить учетные данные"}
BAD_CURSOR = {"cursor": ["Некорректный курсор."]}


def ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [post["id"] for post in response.json()]


def walk(client, url: str, between_pages=None) -> list[list[str]]:
    """Every page of a walk, following the Link header; `between_pages()` runs after each."""
    pages = []
    while url:
        response = client.get(url)
        pages.append(ids(response))
        if between_pages:
            between_pages()
        url = next_url(response)
    return pages


def like(user, post) -> None:
    assert like_toggle(post_id=post.pk, user=user).liked is True


def view(user, post) -> None:
    assert post_view_record(post_id=post.pk, viewer=user) is True


def hours_ago(hours: float):
    return timezone.now() - timedelta(hours=hours)


# --- Ranking -------------------------------------------------------------------------------


def test_friends_posts_rank_above_friend_liked_above_similar_taste_above_merely_popular(api, user):
    friend, co_liker = UserFactory(), UserFactory()
    strangers = UserFactory.create_batch(4)
    friendship_add(user=user, friend=friend)
    same_age = hours_ago(1)
    by_friend = PostFactory(author=friend, created_at=same_age)
    friend_liked = PostFactory(created_at=same_age)
    similar_taste = PostFactory(created_at=same_age)
    popular = PostFactory(created_at=same_age)
    shared_taste = PostFactory(created_at=hours_ago(2))  # what the caller and the co-liker both liked
    plain = PostFactory(created_at=same_age)
    like(friend, friend_liked)
    like(user, shared_taste)
    like(co_liker, shared_taste)
    like(co_liker, similar_taste)
    for stranger in strangers[:3]:
        like(stranger, popular)

    order = ids(api.get(URL))

    # 8.25 > 4 + 0.5 + 0.25 > 2 + 0.5 + 0.25 > 1 + 0.25; the caller's own like marks shared_taste
    # seen (× 0.2), which still leaves it above a post no signal favours (0.25).
    expected = [by_friend, friend_liked, similar_taste, popular, shared_taste, plain]
    assert order == [str(post.pk) for post in expected]


def test_fresh_posts_rank_above_older_ones_and_decay_beats_weight_in_the_end(api, user):
    friend, stranger = UserFactory(), UserFactory()
    friendship_add(user=user, friend=friend)
    fresh_friend = PostFactory(author=friend, created_at=hours_ago(1))
    day_old_friend = PostFactory(author=friend, created_at=hours_ago(26))
    week_old_friend = PostFactory(created_at=hours_ago(24 * 7), author=UserFactory())
    friendship_add(user=user, friend=week_old_friend.author)
    fresh_popular = PostFactory(created_at=hours_ago(1))
    like(stranger, fresh_popular)

    order = ids(api.get(URL))

    # 8.25 × 2^(-1/24) > 8.25 × 2^(-26/24) > 1.25 × 2^(-1/24) > 8.25 × 2^(-7)
    assert order == [str(p.pk) for p in (fresh_friend, day_old_friend, fresh_popular, week_old_friend)]


def test_cold_start_page_holds_popular_and_recent_posts(api, user):
    strangers = UserFactory.create_batch(5)
    recent_popular = PostFactory(created_at=hours_ago(1))
    older_popular = PostFactory(created_at=hours_ago(48))
    recent = PostFactory(created_at=hours_ago(2))
    month_old = PostFactory(created_at=hours_ago(24 * 30))  # beyond RECO_WINDOW_DAYS: still listed
    for stranger in strangers[:2]:
        like(stranger, recent_popular)
    for stranger in strangers:
        like(stranger, older_popular)

    order = ids(api.get(URL))

    # (1 × share + 0.25) × decay: 0.61 + 0.25 at 1 h, 1.25 at 48 h (÷ 4), 0.25 at 2 h, ~0 at 30 days.
    assert order == [str(p.pk) for p in (recent_popular, older_popular, recent, month_old)]


def test_no_posts_at_all_is_an_empty_page_without_a_next_link(api):
    response = api.get(URL)

    assert response.status_code == 200
    assert response.json() == [] and next_url(response) is None


def test_own_and_already_viewed_posts_are_pushed_down_not_removed(api, user):
    liker = UserFactory()
    own = PostFactory(author=user, created_at=hours_ago(1))
    viewed = PostFactory(created_at=hours_ago(1))
    liked_by_me = PostFactory(created_at=hours_ago(1))
    unseen = [PostFactory(created_at=hours_ago(12)) for _ in range(3)]
    for post in unseen:
        like(liker, post)
    view(user, viewed)
    like(user, liked_by_me)

    order = ids(api.get(URL))

    # Fresher than every unseen post, yet below them; the caller's own post is last.
    assert set(order[:3]) == {str(post.pk) for post in unseen}
    assert set(order[3:5]) == {str(viewed.pk), str(liked_by_me.pk)}
    assert order[5] == str(own.pk)


def test_the_response_carries_the_feeds_post_objects(api, user, other_user):
    post = PostFactory(author=other_user, created_at=hours_ago(1))
    PostImageFactory(post=post)
    like(user, post)
    feed = api.get("/api/posts/all").json()

    response = api.get(URL + "/")

    assert response.status_code == 200
    assert response.json() == feed


# --- The author cap ------------------------------------------------------------------------


def test_a_page_holds_at_most_two_posts_of_one_author_and_the_held_back_ones_come_later(api, user):
    prolific = UserFactory()
    friendship_add(user=user, friend=prolific)
    theirs = [PostFactory(author=prolific, created_at=hours_ago(1 + n / 10)) for n in range(5)]
    others = [PostFactory(created_at=hours_ago(3)) for _ in range(6)]

    pages = walk(api, URL + "?limit=4")

    mine = {str(post.pk) for post in theirs}
    assert [len(page) for page in pages] == [4, 4, 3]
    assert [len(mine.intersection(page)) for page in pages] == [2, 2, 1]
    assert pages[0][:2] == [str(theirs[0].pk), str(theirs[1].pk)]  # the best two go first
    everything = [post_id for page in pages for post_id in page]
    assert sorted(everything) == sorted(str(post.pk) for post in theirs + others)  # none lost, none twice


@override_settings(RECO_AUTHOR_CAP=1)
def test_the_author_cap_is_a_setting(api, user):
    prolific = UserFactory()
    friendship_add(user=user, friend=prolific)
    [PostFactory(author=prolific, created_at=hours_ago(1)) for _ in range(3)]
    [PostFactory(created_at=hours_ago(2)) for _ in range(3)]

    first = api.get(URL + "?limit=3").json()

    assert [post["author"]["id"] for post in first].count(str(prolific.pk)) == 1


def _candidates(authors: str) -> list[Candidate]:
    now = timezone.now()
    return [Candidate(uuid.uuid4(), author, now, -rank) for rank, author in enumerate(authors)]


@pytest.mark.parametrize(
    ("authors", "window", "cap", "expected"),
    [
        ("AAAAB", 3, 2, "AABAA"),  # B moves up; the A tail fills the pages rather than vanish
        ("AAABBBC", 3, 1, "ABCABAB"),
        ("AAABBB", 2, 1, "ABABAB"),
        ("ABCABC", 10, 2, "ABCABC"),  # nothing to do
        ("AAAA", 4, 4, "AAAA"),  # cap ≥ window: the ranking as is
    ],
)
def test_authors_spread_keeps_every_post_and_each_window_under_the_cap(authors, window, cap, expected):
    ranked = _candidates(authors)
    author_of = {c.post_id: c.author_id for c in ranked}

    order = authors_spread(ranked, window=window, cap=cap)

    assert sorted(order) == sorted(c.post_id for c in ranked)
    assert "".join(author_of[post_id] for post_id in order) == expected
    # Ranks within one author never swap: a held-back post keeps its place in its author's line.
    for author in set(authors):
        theirs = [post_id for post_id in order if author_of[post_id] == author]
        assert theirs == [c.post_id for c in ranked if c.author_id == author]


# --- Walks ---------------------------------------------------------------------------------


def test_a_walk_shows_each_post_once_in_the_first_pages_ranking_while_posts_and_likes_arrive(api, user, settings):
    settings.RECO_RANKING_TTL = 0  # each first page ranks: the fresh walk below sees what arrived
    friend, fans = UserFactory(), UserFactory.create_batch(3)
    friendship_add(user=user, friend=friend)
    posts = [PostFactory(created_at=hours_ago(1 + n)) for n in range(23)]
    for n, post in enumerate(posts[::3]):
        like(fans[n % 3], post)
    full_ranking = ids(api.get(URL + "?limit=100"))
    assert sorted(full_ranking) == sorted(str(post.pk) for post in posts)
    arrived = []

    def meanwhile():
        # What would rank first now: a friend's new post, likes by a friend and views.
        arrived.append(PostFactory(author=friend))
        unseen = Post.objects.exclude(pk__in=[p.pk for p in arrived]).exclude(likes__user=friend).first()
        like(friend, unseen)
        view(fans[0], unseen)

    pages = walk(api, URL + "?limit=4", between_pages=meanwhile)

    assert [len(page) for page in pages] == [4, 4, 4, 4, 4, 3]
    assert [post_id for page in pages for post_id in page] == full_ranking  # no duplicate, no gap
    fresh_walk = ids(api.get(URL + "?limit=100"))
    assert {str(post.pk) for post in arrived} <= set(fresh_walk)  # a new walk sees them


def test_a_post_deleted_during_a_walk_is_left_out_of_its_page(api, user, other_user):
    posts = [PostFactory(author=UserFactory(), created_at=hours_ago(1 + n)) for n in range(4)]
    first = api.get(URL + "?limit=2")
    Post.objects.filter(pk=posts[2].pk).delete()

    second = api.get(next_url(first))

    assert ids(second) == [str(posts[3].pk)] and next_url(second) is None


def test_the_next_link_keeps_the_limit_and_the_last_page_has_none(api):
    [PostFactory(author=UserFactory()) for _ in range(3)]

    first = api.get(URL + "?limit=2")
    last = api.get(next_url(first))

    assert "limit=2" in next_url(first)
    assert len(ids(last)) == 1 and next_url(last) is None


# --- Bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize("limit", ["0", "101", "-1", "abc", "1.5", "²"])
def test_an_out_of_range_limit_is_400(api, limit):
    response = api.get(URL, {"limit": limit})

    assert response.status_code == 400
    assert response.json() == {"limit": ["Должно быть целым числом от 1 до 100."]}


@pytest.mark.parametrize(
    "cursor",
    [
        "not base64 at all!",
        encode_cursor(["x"]),
        encode_cursor(["short", "2"]),
        encode_cursor(["A" * 22, "-1"]),
        encode_cursor(["A" * 22, "1e3"]),
        encode_cursor(["A" * 22 + "\x00", "2"]),
    ],
)
def test_a_malformed_cursor_is_400(api, cursor):
    response = api.get(URL, {"cursor": cursor})

    assert response.status_code == 400
    assert response.json() == BAD_CURSOR


def _first_cursor(client) -> str:
    [PostFactory(author=UserFactory()) for _ in range(3)]
    first = client.get(URL + "?limit=1")
    return re.search(r"cursor=([^&>]+)", next_url(first)).group(1)


@pytest.mark.parametrize("position", ["0", "3", "999999"])
def test_a_cursor_outside_its_walk_is_400(api, position):
    snapshot_id, _ = decode_cursor(_first_cursor(api), size=2)

    response = api.get(URL, {"cursor": encode_cursor([snapshot_id, position])})

    assert response.status_code == 400
    assert response.json() == BAD_CURSOR


def test_an_expired_or_unknown_walk_is_400_asking_to_start_again(api):
    cursor = _first_cursor(api)
    cache.clear()  # what RECO_SNAPSHOT_TTL does to a forgotten walk

    expired = api.get(URL, {"cursor": cursor})
    unknown = api.get(URL, {"cursor": encode_cursor(["0." + "B" * 22, "1"])})

    assert expired.status_code == unknown.status_code == 400
    assert expired.json() == unknown.json() == {"cursor": [STALE_CURSOR]}


def test_another_users_walk_is_400(api, client_for, other_user):
    cursor = _first_cursor(api)

    response = client_for(other_user).get(URL, {"cursor": cursor})

    # A walk is looked up among the caller's own: someone else's is unknown to them.
    assert response.status_code == 400
    assert response.json() == {"cursor": [STALE_CURSOR]}


def _snapshots_in_redis() -> dict[bytes, int]:
    """Every stored walk (key → bytes held), whoever it belongs to."""
    client = cache._cache.get_client(write=False)
    keys = [key for key in client.scan_iter(match=cache.make_key("posts:recommended:*")) if not key.endswith(b":walks")]
    return {key: client.memory_usage(key) for key in keys}


def test_a_viewer_keeps_at_most_reco_snapshots_per_user_walks(api, client_for, other_user, settings):
    settings.RECO_RANKING_TTL = 0  # each first page ranks and stores a walk
    # The attack: first pages in a loop, each one a snapshot kept for an hour (1.7 GB/h).
    [PostFactory(author=UserFactory()) for _ in range(3)]
    cursors = [re.search(r"cursor=([^&>]+)", next_url(api.get(URL + "?limit=1"))).group(1) for _ in range(12)]
    client_for(other_user).get(URL + "?limit=1")

    assert len(_snapshots_in_redis()) == 5 + 1  # the viewer's five slots and the other user's walk
    # The newest walks go on; the oldest ones were replaced and ask to start again.
    assert api.get(URL, {"cursor": cursors[-1]}).status_code == 200
    stale = api.get(URL, {"cursor": cursors[0]})
    assert stale.status_code == 400
    assert stale.json() == {"cursor": [STALE_CURSOR]}


@override_settings(RECO_SNAPSHOT_MAX_POSTS=4)
def test_a_walk_keeps_at_most_reco_snapshot_max_posts_ids(api):
    [PostFactory(author=UserFactory()) for _ in range(10)]

    pages = walk(api, URL + "?limit=3")

    assert [len(page) for page in pages] == [3, 1]
    [size] = _snapshots_in_redis().values()
    assert size < 300  # 4 ids of 16 bytes and the key's overhead


@pytest.mark.parametrize("path", [URL, URL + "/"])
def test_unauthenticated_is_401(anon_client, path):
    response = anon_client.get(path)

    assert response.status_code == 401
    assert response.json() == CREDENTIALS


# --- Cost ------------------------------------------------------------------------------------


def _graph(size: int, *, viewer) -> None:
    """`size` posts with images and likes, by friends and strangers; the viewer has friends,
    likes (so co-likers) and views — every pool has candidates."""
    friends = UserFactory.create_batch(3)
    for friend in friends:
        friendship_add(user=viewer, friend=friend)
    co_liker = UserFactory()
    for n in range(size):
        post = PostFactory(author=friends[n % 3] if n % 2 else UserFactory(), created_at=hours_ago(n))
        for position in range(2):
            PostImageFactory(post=post, position=position)
        LikeFactory(post=post, user=friends[n % 3])
        LikeFactory(post=post, user=co_liker)
        if n % 4 == 0:
            LikeFactory(post=post, user=viewer)
            view(viewer, post)


# Authenticated user; friend ids, friends' posts, friend-liked, similar taste, popular, facts;
# then the page's rows (with liked_by_me) and, for posts this process has not encoded yet,
# the posts with their authors, images and recent likers in one statement (posts/fragments.py).
FIRST_PAGE_QUERIES = 9
# Authenticated user, then exactly a feed page's queries (posts/tests/test_api.py).
NEXT_PAGE_QUERIES = 3
# No friends: the friends' posts and friend-liked pools are skipped.
COLD_START_QUERIES = 7


@pytest.mark.parametrize("size", [12, 40])
def test_first_and_next_pages_cost_a_constant_number_of_queries(api, user, django_assert_num_queries, size):
    _graph(size, viewer=user)

    with django_assert_num_queries(FIRST_PAGE_QUERIES):
        first = api.get(URL + "?limit=5")
    with django_assert_num_queries(NEXT_PAGE_QUERIES):
        second = api.get(next_url(first))

    assert len(ids(first)) == len(ids(second)) == 5
    assert all(len(post["images"]) == 2 for post in first.json() + second.json())


# The authenticated user and the page's rows (with liked_by_me) in one statement (two before:
# accounts.authentication.SessionCheckInView), and (no encodings kept) posts + their authors,
# images and recent likers in one statement: a kept ranking is one cache read, no query.
KEPT_FIRST_PAGE_QUERIES = 2


@pytest.mark.parametrize("size", [12, 40])
def test_a_first_page_from_a_kept_ranking_costs_the_pages_rows_only(
    api, user, django_assert_num_queries, size, settings
):
    settings.POST_CACHE_BYTES = 0  # (on a loaded machine an encoding may outlive its URLs' lease)
    settings.POST_SHARED_CACHE_TTL = 0
    _graph(size, viewer=user)
    ranked = ids(api.get(URL + "?limit=5"))

    with django_assert_num_queries(KEPT_FIRST_PAGE_QUERIES):
        kept = api.get(URL + "?limit=5")

    assert ids(kept) == ranked and len(ranked) == 5
    with django_assert_num_queries(NEXT_PAGE_QUERIES):
        assert len(ids(api.get(next_url(kept)))) == 5


def _age_kept_ranking(viewer, limit: int, seconds: float) -> None:
    from posts.recommendations.pages import RANKING_KEY

    key = RANKING_KEY.format(viewer=viewer.pk.hex, limit=limit)
    kept = cache.get(key)
    cache.set(key, {**kept, "at": kept["at"] - seconds}, timeout=300)


def test_a_kept_ranking_serves_first_pages_until_a_background_task_ranks_anew(api, user, settings):
    from django_tasks_db.models import DBTaskResult

    from posts.tasks import recommended_refresh

    # The database backend with no worker running: the refresh waits in the queue.
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    settings.RECO_RANKING_TTL = 60
    friend = UserFactory()
    friendship_add(user=user, friend=friend)
    PostFactory.create_batch(3)
    before = ids(api.get(URL + "?limit=5"))
    fresh = PostFactory(author=friend)  # a friend's new post: it would rank first

    assert ids(api.get(URL + "?limit=5")) == before  # younger than the TTL: kept as it was
    _age_kept_ranking(user, 5, seconds=61)
    assert ids(api.get(URL + "?limit=5")) == before  # older: still served, while…
    assert ids(api.get(URL + "?limit=5")) == before
    [queued] = DBTaskResult.objects.filter(task_path="posts.tasks.recommended_refresh")  # …one refresh is queued
    assert queued.args_kwargs["kwargs"] == {"viewer_id": str(user.pk), "limit": 5}

    assert recommended_refresh.call(**queued.args_kwargs["kwargs"]) is True  # what db_worker runs

    assert ids(api.get(URL + "?limit=5"))[0] == str(fresh.pk)


def test_a_kept_ranking_is_per_page_size(api, user, settings):
    # The author spread caps posts of one author per page: a ranking spread for pages of 5 is
    # not one for pages of 2.
    settings.RECO_AUTHOR_CAP = 1
    author = UserFactory()
    PostFactory.create_batch(4)
    PostFactory.create_batch(4, author=author)  # the newest: they rank first

    assert len({post["author"]["id"] for post in api.get(URL + "?limit=2").json()}) == 2
    assert sum(post["author"]["id"] == str(author.pk) for post in api.get(URL + "?limit=5").json()) == 1


def test_a_kept_ranking_leaves_out_a_post_deleted_since(api, user, other_user):
    post = PostFactory(author=other_user)
    assert ids(api.get(URL)) == [str(post.pk)]
    post.delete()

    assert api.get(URL).json() == []


def test_the_refresh_task_of_a_deactivated_or_deleted_viewer_does_nothing(user):
    from posts.tasks import recommended_refresh

    user.is_active = False
    user.save(update_fields=["is_active"])

    assert recommended_refresh.call(viewer_id=str(user.pk), limit=20) is False
    assert recommended_refresh.call(viewer_id=str(uuid.uuid4()), limit=20) is False


@pytest.mark.parametrize("size", [3, 30])
def test_a_cold_start_page_costs_a_constant_number_of_queries(api, django_assert_num_queries, size):
    for _ in range(size):
        LikeFactory(post=PostFactory())

    with django_assert_num_queries(COLD_START_QUERIES):
        first = api.get(URL + "?limit=2")

    assert len(ids(first)) == 2


# --- The precomputed popularity --------------------------------------------------------------


def test_likes_and_views_move_the_hot_score_with_the_counters(user, other_user):
    post = PostFactory(author=other_user, created_at=hours_ago(5))
    like(user, post)
    view(user, post)
    post.refresh_from_db()
    assert math.isclose(post.hot_score, hot_score(created_at=post.created_at, likes=1, views=1), rel_tol=1e-12)

    like_toggle(post_id=post.pk, user=user)  # unlike
    post.refresh_from_db()
    assert math.isclose(post.hot_score, hot_score(created_at=post.created_at, likes=0, views=1), rel_tol=1e-12)


def test_a_post_made_through_the_api_is_a_candidate_at_once(api, user, client_for, other_user):
    response = api.post("/api/posts/create", {"author": str(user.pk), "description": "Новое"}, format="multipart")
    post = Post.objects.get(pk=response.json()["id"])

    assert math.isclose(post.hot_score, hot_score(created_at=post.created_at), rel_tol=1e-12)
    assert ids(client_for(other_user).get(URL)) == [str(post.pk)]


def test_refresh_post_scores_recomputes_every_hot_score_with_the_current_weights(user, capsys):
    posts = [PostFactory(created_at=hours_ago(n)) for n in range(3)]
    like(user, posts[1])
    Post.objects.update(hot_score=0)

    with override_settings(RECO_VIEW_WEIGHT=0.5, RECO_HALF_LIFE_HOURS=12):
        call_command("refresh_post_scores", batch_size=2)
        expected = [hot_score(created_at=p.created_at, likes=int(p is posts[1])) for p in posts]

    stored = [Post.objects.get(pk=p.pk).hot_score for p in posts]
    assert all(math.isclose(a, b, rel_tol=1e-12) for a, b in zip(stored, expected, strict=True))
    assert "3 posts" in capsys.readouterr().out


# --- API schema ------------------------------------------------------------------------------


def test_the_schema_documents_limit_cursor_and_the_post_array(api):
    response = api.get("/api/schema/", {"format": "json"})

    operation = json.loads(response.content)["paths"]["/api/posts/recommended"]["get"]
    assert {parameter["name"] for parameter in operation["parameters"]} == {"limit", "cursor"}
    assert operation["responses"]["200"]["content"]["application/json"]["schema"]["type"] == "array"
    assert {"400", "401"} <= set(operation["responses"])


def test_the_taste_signal_is_kept_per_viewer_and_the_rest_stays_fresh(api, user, django_assert_num_queries, settings):
    settings.POST_CACHE_BYTES = 0  # every page re-reads its posts: only the taste pool is kept
    settings.POST_SHARED_CACHE_TTL = 0
    settings.RECO_RANKING_TTL = 0  # …and each first page ranks
    _graph(12, viewer=user)
    with django_assert_num_queries(FIRST_PAGE_QUERIES):
        api.get(URL + "?limit=5")
    # The next walk reuses the kept similar-taste pool: one query fewer…
    with django_assert_num_queries(FIRST_PAGE_QUERIES - 1):
        api.get(URL + "?limit=5")
    # …and still sees what is new: a friend's post written just now is in the new walk.
    friend = Friendship.objects.filter(user=user).first().friend
    fresh = PostFactory(author=friend)
    assert str(fresh.pk) in ids(api.get(URL + "?limit=100"))
    settings.RECO_TASTE_TTL = 0
    with django_assert_num_queries(FIRST_PAGE_QUERIES):
        api.get(URL + "?limit=5")
