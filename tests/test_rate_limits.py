"""Per-user rate limits on what can harvest or spam (`SOCIAL_RATE_LIMITS`, issue #19 item 1):
friend add, chat create, post create and people search, through the shared cache (Redis)."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from accounts.tests.factories import UserFactory
from social.ratelimit import SOCIAL_RATE_DEFAULTS, Rate, social_rates_parse

pytestmark = pytest.mark.django_db


@pytest.fixture
def limits(settings):
    """limits("name=N/unit,…"): the SOCIAL_RATE_LIMITS in force for this test."""

    def set_limits(text: str) -> None:
        settings.SOCIAL_RATE_LIMITS = social_rates_parse(text)

    return set_limits


def friend_add(api, user):
    return api.post(f"/api/users/{user.id}/friends/add/{UserFactory().id}")


def chat_create(api, user):
    return api.post("/api/chats/create", {"users": [str(UserFactory().id)]}, format="json")


def post_create(api, user):
    return api.post("/api/posts/create", {"author": str(user.id), "description": "спам"}, format="json")


def search(api, user):
    return api.get("/api/users", {"search": "a", "limit": 100})


def report(api, user):
    return api.post("/api/reports", {"target": "user", "id": str(UserFactory().id), "reason": "spam"}, format="json")


ACTIONS = {
    "friend_add": friend_add,
    "chat_create": chat_create,
    "post_create": post_create,
    "search": search,
    "report": report,
}


@pytest.mark.parametrize("name", ACTIONS)
def test_over_the_limit_answers_429_with_retry_after_and_does_nothing(name, limits, api, user):
    limits(f"{name}=3/hour")
    act = ACTIONS[name]
    assert [act(api, user).status_code for _ in range(3)] in ([200] * 3, [201] * 3)

    refused = act(api, user)

    assert refused.status_code == 429
    assert set(refused.json()) == {"detail"}
    assert 0 < int(refused["Retry-After"]) <= 3600


def test_the_harvest_of_the_issue_stops_at_the_default_search_limit(api, user):
    # 120 pages a minute by default: the 121st is refused, whoever the caller pretends to be.
    assert social_rates_parse(SOCIAL_RATE_DEFAULTS)["search"] == Rate(120, 60)
    statuses = [search(api, user).status_code for _ in range(121)]
    assert statuses[:120] == [200] * 120 and statuses[120] == 429


def test_the_limit_is_per_user_and_shared_by_all_their_sessions(limits, api, user, client_for):
    limits("friend_add=2/day")
    second_session = client_for(user)
    assert friend_add(api, user).status_code == 200
    assert friend_add(second_session, user).status_code == 200
    assert friend_add(api, user).status_code == 429
    assert friend_add(second_session, user).status_code == 429
    stranger = UserFactory()
    assert friend_add(client_for(stranger), stranger).status_code == 200


def test_off_lifts_every_limit(limits, api, user):
    limits("off")
    assert all(search(api, user).status_code == 200 for _ in range(130))


def test_the_anonymous_caller_still_gets_401_not_429(limits, anon_client):
    limits("search=1/min")
    assert [anon_client.get("/api/users", {"search": "a"}).status_code for _ in range(2)] == [401, 401]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("off", dict.fromkeys(["friend_add", "chat_create", "post_create", "search", "report"])),
        ("search=5/s", {"search": Rate(5, 1), "friend_add": Rate(50, 86400)}),
        ("search=off, report=2/minute", {"search": None, "report": Rate(2, 60), "chat_create": Rate(30, 3600)}),
        ("", {"post_create": Rate(60, 3600)}),
    ],
)
def test_social_rate_limits_valid_inputs(text, expected):
    parsed = social_rates_parse(text)
    assert {name: parsed[name] for name in expected} == expected


@pytest.mark.parametrize("text", ["search=5", "search=0/min", "search=5/week", "likes=5/min", "search=-1/min", "x"])
def test_social_rate_limits_invalid_inputs_stop_the_process(text):
    with pytest.raises(ImproperlyConfigured):
        social_rates_parse(text)


def test_the_schema_documents_429_with_retry_after_on_limited_routes(anon_client):
    schema = anon_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    for path, method in [
        ("/api/users", "get"),
        ("/api/chats/create", "post"),
        ("/api/posts/create", "post"),
        ("/api/users/{user_id}/friends/add/{friend_id}", "post"),
        ("/api/reports", "post"),
    ]:
        assert "Retry-After" in schema["paths"][path][method]["responses"]["429"]["headers"], path
