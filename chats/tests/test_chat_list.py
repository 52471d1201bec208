"""GET /api/chats (EXTENSIONS §2): the chat list with the last message and unread counts."""

import json
import random
import re
from uuid import UUID

import pytest
from django.db import connection
from django.utils import timezone

from accounts.tests.factories import UserFactory
from chats import selectors, services
from chats.models import Chat, ChatMember, Message
from chats.serializers import chat_list_items
from social.pagination import PageRequest, decode_cursor

pytestmark = [pytest.mark.django_db]


def add_messages(chat, author, count):
    """`count` messages by `author`, stored in bulk (the counters as the seeding moves them)."""
    Message.objects.bulk_create([Message(chat=chat, user=author, text=f"m{n}") for n in range(count)])
    services.chat_counters_move(chat_ids=[chat.pk], delta=count, at=Message.objects.latest("id").created_at)


def test_the_list_shows_each_chat_with_its_last_message_and_unread_count(api, make_chat, user, other_user):
    third = UserFactory()
    group = make_chat(user, other_user, third, title="группа")
    direct = make_chat(other_user, user)
    services.message_send(chat=group, author=other_user, text="раз")
    services.message_send(chat=group, author=third, text="два")
    services.message_send(chat=direct, author=other_user, text="лично")
    own = services.message_send(chat=group, author=user, text="мой ответ")
    services.message_send(chat=group, author=third, text="после ответа")

    response = api.get("/api/chats")
    assert response.status_code == 200
    body = response.json()
    assert [chat["id"] for chat in body] == [str(group.pk), str(direct.pk)]
    first, second = body
    assert first["last_message"]["message"] == "после ответа"
    assert first["last_message"]["chat_id"] == str(group.pk)
    # Sending moved the caller's marker to their message: only the one after it is unread.
    assert first["unread_count"] == 1
    assert first["last_read_message_id"] == own.pk
    assert first["owner_id"] == str(user.pk)
    assert first["is_direct"] is False
    assert first["members_count"] == 3
    assert [member["id"] for member in first["users"]] == [str(user.pk), str(other_user.pk), str(third.pk)]
    assert set(first) == {
        "id",
        "title",
        "avatar",
        "users",
        "owner_id",
        "is_direct",
        "members_count",
        "created_at",
        "last_message",
        "unread_count",
        "last_read_message_id",
    }
    assert second["is_direct"] is True
    assert second["owner_id"] is None
    assert second["unread_count"] == 1
    assert second["last_read_message_id"] is None


def test_a_chat_without_messages_is_listed_by_its_creation(api, make_chat, user, other_user):
    older = make_chat(user, other_user, title="старый")
    services.message_send(chat=older, author=other_user, text="x")
    newer = make_chat(user, UserFactory(), title="новый")
    body = api.get("/api/chats").json()
    # The new chat's creation is more recent than the old chat's last message.
    assert [chat["id"] for chat in body] == [str(newer.pk), str(older.pk)]
    empty = body[0]
    assert empty["last_message"] is None
    assert empty["unread_count"] == 0


def test_unread_is_exact_up_to_999_and_999_above(api, make_chat, user, other_user):
    exact, many = make_chat(user, other_user, title="exact"), make_chat(user, other_user, title="many")
    add_messages(exact, other_user, 999)
    add_messages(many, other_user, 1500)
    counts = {chat["title"]: chat["unread_count"] for chat in api.get("/api/chats").json()}
    assert counts == {"exact": 999, "many": 999}


def test_unread_counting_reads_at_most_1000_rows_of_a_chat(make_chat, user, other_user):
    chat = make_chat(user, other_user)
    add_messages(chat, other_user, 3000)
    # Both forms of the query: the list's own SQL and the ORM's (a chat's detail).
    sql, params = selectors.chat_list_statement(user=user, page=PageRequest(limit=20, after=None))
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params)
        raw = cursor.fetchone()[0]
    listed = json.loads(raw) if isinstance(raw, str) else raw
    detail = json.loads(selectors.chat_list_rows(user=user).explain(analyze=True, format="json"))
    for plan in (listed, detail):
        scans = [node for node in _plan_nodes(plan[0]["Plan"]) if node.get("Relation Name") == "chats_message"]
        assert scans, plan
        # Rows a node returned, over all its loops: the unread count's scan stops at 1,000.
        assert max(node["Actual Rows"] * node["Actual Loops"] for node in scans) <= 1000


def test_the_page_probes_the_callers_chats_whatever_the_number_of_chats(make_chat, user, other_user):
    """The list reads each of the caller's chats by its primary key: the cost follows the
    caller's chats, not every chat there is (a hash join over a scan of all chats cost ~3 ms
    of PostgreSQL's CPU a page at 4,000 chats, the bench's shape; issue #26)."""
    for n in range(30):
        make_chat(user, other_user, title=f"свой {n}")
    strangers = UserFactory.create_batch(2)
    others = Chat.objects.bulk_create(Chat(title=f"чужой {n}") for n in range(3000))
    ChatMember.objects.bulk_create(ChatMember(chat=chat, user=strangers[n % 2]) for n, chat in enumerate(others))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE chats_chat")
        cursor.execute("ANALYZE chats_chatmember")
        sql, params = selectors.chat_list_statement(user=user, page=PageRequest(limit=20, after=None))
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        raw = cursor.fetchone()[0]
    plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]
    chat_reads = [node["Node Type"] for node in _plan_nodes(plan) if node.get("Relation Name") == "chats_chat"]
    assert chat_reads and "Seq Scan" not in chat_reads, chat_reads


def varied_chats(make_chat, user, other_user):
    """Three chats of `user`: a group with an avatar whose last message is an edited reply with
    a photo, a direct chat whose last message quotes a deleted one, an empty one."""
    third = UserFactory()
    group = make_chat(user, other_user, third, title="группа")
    Chat.objects.filter(pk=group.pk).update(avatar="chat_avatars/a.png")
    quoted = services.message_send(chat=group, author=third, text="цитата " * 50)
    reply = services.message_send(chat=group, author=other_user, text="ответ", reply_to=quoted.pk)
    Message.objects.filter(pk=reply.pk).update(images=["messages/a.webp"], edited_at=reply.created_at)
    direct = make_chat(other_user, user)
    gone_quote = services.message_send(chat=direct, author=other_user, text="исчезнет")
    services.message_send(chat=direct, author=user, text="на удалённое", reply_to=gone_quote.pk)
    Message.objects.filter(pk=gone_quote.pk).delete()
    make_chat(user, UserFactory(), title="пустой")
    return group, direct, quoted, gone_quote, third


def test_each_listed_chat_is_the_detail_object_without_read_markers(api, make_chat, user, other_user):
    """The list builds its objects from bare rows (issue #26), the detail through
    ChatDetailOutput: the same keys, order and values, on both pages of a walk."""
    group, direct, quoted, gone_quote, third = varied_chats(make_chat, user, other_user)

    first = api.get("/api/chats?limit=2")
    listed = first.json() + api.get(first["Link"].split(";")[0].strip("<>")).json()
    assert len(listed) == 3
    quotes = {chat["id"]: chat["last_message"]["reply_to"] for chat in listed if chat["last_message"]}
    assert quotes[str(direct.pk)] == {"id": gone_quote.pk, "message": None, "user": None}
    assert quotes[str(group.pk)]["message"] == quoted.text[:200]
    assert quotes[str(group.pk)]["user"] == {"id": str(third.pk), "username": third.username}
    for chat in listed:
        detail = api.get(f"/api/chats/{chat['id']}").json()
        detail.pop("read_markers")
        assert json.dumps(chat, ensure_ascii=False) == json.dumps(detail, ensure_ascii=False)


def test_the_orm_form_of_the_list_reads_the_same_chats(make_chat, user, other_user, rf):
    """`make run`'s SQLite reads the list through the ORM (no LATERAL, no array_agg): the same
    objects and cursors as the prepared query, on both pages of a walk."""
    varied_chats(make_chat, user, other_user)
    request = rf.get("/api/chats")
    after = None
    for _ in range(2):
        page = PageRequest(limit=2, after=after)
        prepared = selectors.chat_list_values(user=user, page=page)
        orm = selectors._chat_list_values_orm(user=user, page=page)
        assert chat_list_items(prepared.items, request) == chat_list_items(orm.items, request)
        assert prepared.next_cursor == orm.next_cursor
        after = decode_cursor(prepared.next_cursor, size=2)
    assert after is None


def _plan_nodes(node):
    yield node
    for child in node.get("Plans", []):
        yield from _plan_nodes(child)


@pytest.mark.parametrize("chats", [3, 30])
def test_the_list_costs_the_same_queries_whatever_the_number_of_chats(
    client_for, make_chat, user, django_assert_num_queries, chats
):
    for n in range(chats):
        others = UserFactory.create_batch(3)
        chat = make_chat(user, *others, title=f"чат {n}")
        services.message_send(chat=chat, author=others[0], text="привет")
    client = client_for(user)
    # The page with its embedded members and last messages, and the Bearer caller's user check
    # in the same statement (SessionCheckInView).
    with django_assert_num_queries(1):
        response = client.get("/api/chats?limit=100")
    assert len(response.json()) == chats


def test_members_embedded_are_bounded_and_counted(api, make_chat, user, settings):
    settings.CHAT_MEMBERS_EMBEDDED = 2
    make_chat(user, *UserFactory.create_batch(4), title="пятеро")
    chat = api.get("/api/chats").json()[0]
    assert len(chat["users"]) == 2
    assert chat["members_count"] == 5


@pytest.mark.parametrize(("bound", "members"), [(0, 3), (3, 2), (2, 2), (2, 3), (100, 4)])
def test_members_count_is_every_member_around_the_embedded_bound(api, make_chat, user, settings, bound, members):
    """The count is the embedded members' own number below the bound, and counted at it and
    above (the list counts only when the embedded members may not be all)."""
    settings.CHAT_MEMBERS_EMBEDDED = bound
    make_chat(user, *UserFactory.create_batch(members - 1), title="счёт")
    chat = api.get("/api/chats").json()[0]
    assert chat["members_count"] == members
    assert len(chat["users"]) == min(bound, members)


def test_embedded_members_are_the_first_to_join_read_no_further_than_the_bound(api, make_chat, user, settings):
    """The embedded members are the first CHAT_MEMBERS_EMBEDDED in joining order (not by id or
    name), read in that order (chat_member_joining_idx) and no further: a big chat's other
    memberships are not read and sorted for each listed chat."""
    settings.CHAT_MEMBERS_EMBEDDED = 5
    others = UserFactory.create_batch(30)
    random.Random(26).shuffle(others)
    make_chat(user, *others, title="большой")
    chat = api.get("/api/chats").json()[0]
    assert [member["id"] for member in chat["users"]] == [str(user.pk), *(str(other.pk) for other in others[:4])]
    assert chat["members_count"] == 31
    sql, params = selectors.chat_list_statement(user=user, page=PageRequest(limit=20, after=None))
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params)
        raw = cursor.fetchone()[0]
    plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]
    embedded_reads = [node for node in _plan_nodes(plan) if node.get("Alias") == "joined"]
    assert embedded_reads, plan
    assert max(node["Actual Rows"] * node["Actual Loops"] for node in embedded_reads) <= 5


def test_the_list_pages_with_a_link_header(api, make_chat, user):
    for n in range(5):
        make_chat(user, UserFactory(), title=f"чат {n}")
    seen, url = [], "/api/chats?limit=2"
    while url:
        response = api.get(url)
        seen += [chat["id"] for chat in response.json()]
        link = response.headers.get("Link")
        url = link[1 : link.index(">")] if link else None
    assert len(seen) == len(set(seen)) == 5


def test_pages_walk_chats_of_the_same_activity_by_id_once_each(api, make_chat, user):
    """The keyset (activity, chat id) pages through chats whose activity is the same moment
    (the last message's for some, the creation's for others) in id order, none twice."""
    chats = [make_chat(user, UserFactory(), title=f"чат {n}") for n in range(7)]
    moment = timezone.now()
    Chat.objects.filter(pk__in=[chat.pk for chat in chats[:4]]).update(last_message_at=moment)
    Chat.objects.filter(pk__in=[chat.pk for chat in chats[4:]]).update(created_at=moment)
    seen, url = [], "/api/chats?limit=2"
    while url:
        response = api.get(url)
        seen += [chat["id"] for chat in response.json()]
        link = response.headers.get("Link")
        url = link[1 : link.index(">")] if link else None
    assert seen == sorted((str(chat.pk) for chat in chats), key=UUID, reverse=True)


def test_only_the_callers_chats_are_listed(api, make_chat, user, other_user):
    make_chat(other_user, UserFactory(), title="чужой")
    assert api.get("/api/chats").json() == []


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=x", "cursor=garbage"])
def test_bad_paging_parameters_are_a_400(api, query):
    response = api.get(f"/api/chats?{query}")
    assert response.status_code == 400


def test_the_list_needs_a_signed_in_user(anon_client):
    assert anon_client.get("/api/chats").status_code == 401


def test_a_new_member_of_an_empty_chat_has_nothing_unread(make_chat, user, other_user):
    chat = make_chat(user, other_user)
    assert list(ChatMember.objects.filter(chat=chat).values_list("last_read_message_id", flat=True)) == [None, None]


def test_a_read_marker_never_moves_back(make_chat, user, other_user):
    chat = make_chat(user, other_user)
    first = services.message_send(chat=chat, author=other_user, text="1")
    second = services.message_send(chat=chat, author=other_user, text="2")
    services.read_marker_move(chat_id=chat.pk, user_id=user.pk, message_id=second.pk)
    services.read_marker_move(chat_id=chat.pk, user_id=user.pk, message_id=first.pk)
    assert ChatMember.objects.get(chat=chat, user=user).last_read_message_id == second.pk


@pytest.mark.parametrize("plan_mode", ["force_generic_plan", "force_custom_plan"])
def test_the_callers_membership_is_read_once_a_listed_chat(make_chat, user, other_user, plan_mode):
    """The caller's own membership (their read marker) is looked up by chat and user for each
    listed chat: as a plain join, the prepared statement's generic plan read all of the
    caller's memberships once per listed chat and filtered them on the chat (21 x 200 rows for
    a reader of 200 chats, a third of the page's time, issue #26)."""
    for n in range(60):
        make_chat(user, other_user, title=f"чат {n}")
    sql, params = selectors.chat_list_statement(user=user, page=PageRequest(limit=20, after=None))
    names = list(dict.fromkeys(re.findall(r"%\((\w+)\)s", sql)))
    numbered = re.sub(r"%\((\w+)\)s", lambda m: f"${names.index(m.group(1)) + 1}", sql)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE chats_chatmember")
        cursor.execute(f"SET plan_cache_mode = {plan_mode}")
        cursor.execute(f"PREPARE chat_list_mine AS {numbered}")
        try:
            placeholders = ", ".join(["%s"] * len(names))
            values = [params[n] for n in names]
            cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE chat_list_mine({placeholders})", values)
            raw = cursor.fetchone()[0]
        finally:
            cursor.execute("DEALLOCATE chat_list_mine")
            cursor.execute("RESET plan_cache_mode")
    plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]
    mine = [node for node in _plan_nodes(plan) if node.get("Alias") == "mine" and "Actual Rows" in node]
    assert mine, plan
    assert max(node["Actual Rows"] * node["Actual Loops"] for node in mine) <= 21
