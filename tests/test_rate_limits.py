"""Per-user rate limits on what can harvest or spam (`SOCIAL_RATE_LIMITS`, issue #19 item 1):
friend add, chat create, adding chat members, post create, people search, reports, comments,
export and block/unblock, through the shared cache (Redis); and the REST side of the chat flood
bucket (`CHAT_MESSAGE_RATE`/`CHAT_MESSAGE_BURST`)."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from accounts.tests.factories import UserFactory
from chats import services as chats_services
from chats.models import ChatMember, Message
from safety.selectors import is_blocked_between
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


def chat_member_add(api, user):
    chat, _ = chats_services.chat_create(creator=user, user_ids=[UserFactory().pk], title="группа")
    return api.post(f"/api/chats/{chat.pk}/members", {"users": [str(UserFactory().id)]}, format="json")


def block(api, user):
    return api.post(f"/api/users/{UserFactory().id}/block")


ACTIONS = {
    "friend_add": friend_add,
    "chat_create": chat_create,
    "post_create": post_create,
    "search": search,
    "report": report,
    "chat_member_add": chat_member_add,
    "block": block,
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


def test_a_refused_member_add_adds_no_one_and_the_member_page_is_not_limited(limits, api, user):
    limits("chat_member_add=1/hour")
    chat, _ = chats_services.chat_create(creator=user, user_ids=[UserFactory().pk], title="группа")
    url = f"/api/chats/{chat.pk}/members"
    first, second = UserFactory(), UserFactory()
    assert api.post(url, {"users": [str(first.id)]}, format="json").status_code == 200

    refused = api.post(url, {"users": [str(second.id)]}, format="json")

    assert refused.status_code == 429 and set(refused.json()) == {"detail"} and int(refused["Retry-After"]) > 0
    assert not ChatMember.objects.filter(chat=chat, user=second).exists()
    # Only adding is limited: the members page reads on.
    assert [api.get(url).status_code for _ in range(3)] == [200] * 3


def test_block_and_unblock_share_one_limit_and_a_refused_block_blocks_no_one(limits, api, user):
    limits("block=2/hour")
    target, other = UserFactory(), UserFactory()
    assert api.post(f"/api/users/{target.id}/block").status_code == 200
    assert api.delete(f"/api/users/{target.id}/block").status_code == 200

    refused = api.post(f"/api/users/{other.id}/block")

    assert refused.status_code == 429 and set(refused.json()) == {"detail"} and int(refused["Retry-After"]) > 0
    assert not is_blocked_between(user_id=user.pk, other_id=other.pk)
    assert api.delete(f"/api/users/{target.id}/block").status_code == 429


@pytest.mark.parametrize("name", ["chat_member_add", "block"])
def test_another_user_is_not_held_by_ones_limit(name, limits, api, user, client_for):
    limits(f"{name}=1/hour")
    act = ACTIONS[name]
    assert act(api, user).status_code == 200
    assert act(api, user).status_code == 429
    stranger = UserFactory()
    assert act(client_for(stranger), stranger).status_code == 200


@pytest.fixture
def flood(settings):
    """Three REST message sends per user, then one token every 100 s."""
    settings.CHAT_MESSAGE_RATE, settings.CHAT_MESSAGE_BURST = 0.01, 3


def message_send(api, chat, text="привет"):
    return api.post(f"/api/chats/{chat.pk}/messages", {"message": text}, format="json")


def test_rest_message_sends_over_the_flood_bucket_answer_429_and_store_nothing(flood, api, user):
    chat, _ = chats_services.chat_create(creator=user, user_ids=[UserFactory().pk])
    assert [message_send(api, chat, str(n)).status_code for n in range(3)] == [201] * 3

    refused = message_send(api, chat, "четвёртое")

    assert refused.status_code == 429
    assert set(refused.json()) == {"detail"}
    assert int(refused["Retry-After"]) >= 1
    assert list(Message.objects.filter(chat=chat).order_by("id").values_list("text", flat=True)) == ["0", "1", "2"]


def test_the_flood_bucket_is_the_senders_own(flood, api, user, client_for):
    other = UserFactory()
    chat, _ = chats_services.chat_create(creator=user, user_ids=[other.pk])
    for _ in range(3):
        message_send(api, chat)
    assert message_send(api, chat).status_code == 429
    assert message_send(client_for(other), chat).status_code == 201


def test_a_bad_message_costs_a_token_too(flood, api, user):
    # As on the sockets, every send is counted, well-formed or not: a flood of garbage is a flood.
    chat, _ = chats_services.chat_create(creator=user, user_ids=[UserFactory().pk])
    assert [api.post(f"/api/chats/{chat.pk}/messages", {}, format="json").status_code for _ in range(3)] == [400] * 3
    assert message_send(api, chat).status_code == 429


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
        (
            "off",
            dict.fromkeys(["friend_add", "chat_create", "post_create", "search", "report", "chat_member_add", "block"]),
        ),
        ("", {"chat_member_add": Rate(60, 3600), "block": Rate(100, 3600)}),
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
        ("/api/chats/{chat_id}/messages", "post"),
        ("/api/chats/{chat_id}/members", "post"),
        ("/api/posts/{post_id}/comments", "post"),
        ("/api/users/{user_id}/block", "post"),
        ("/api/users/{user_id}/block", "delete"),
    ]:
        assert "Retry-After" in schema["paths"][path][method]["responses"]["429"]["headers"], (path, method)
    # A route limited on one method only documents 429 on that one.
    for path, method in [("/api/chats/{chat_id}/members", "get"), ("/api/posts/{post_id}/comments", "get")]:
        assert "429" not in schema["paths"][path][method]["responses"], (path, method)
