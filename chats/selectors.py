"""Reads of the chats app. Each costs a fixed number of indexed queries whatever the data size."""

from collections.abc import Iterator
from dataclasses import dataclass
from uuid import UUID

from django.conf import settings
from django.db import connection
from django.db.models import Count, Exists, F, IntegerField, OuterRef, Prefetch, Subquery, prefetch_related_objects
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce

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
from chats.models import Chat, ChatMember, Message
from social.db import count_subquery, prepared_cursor
from social.exceptions import Forbidden, NotFound
from social.pagination import Page, PageRequest, cursor_values, keyset_filter, page_cut, take_page

CHAT_NOT_FOUND = "Чат не найден."
MESSAGE_NOT_FOUND = "Сообщение не найдено."
NOT_A_MEMBER = "Вы не участник этого чата."
NOT_THAT_MEMBER = "Такого участника в этом чате нет."


def chat_for_member(chat_id, user) -> Chat:
    """The chat `chat_id` if `user` is a member of it (one query).

    Raises NotFound for no such chat (or a malformed id) and Forbidden for a non-member.
    """
    membership = ChatMember.objects.filter(chat=OuterRef("pk"), user_id=user.pk)
    chat = (
        Chat.objects.filter(pk=chat_id).annotate(is_member=Exists(membership)).first()
        if uuid_or_none(chat_id)
        else None
    )
    return _member_chat(chat)


# A chat and whether the token's user is a member of it, beside the check of that user
# (accounts.selectors.session_user) in one prepared statement, as the chat list's: the history
# page's first read. No user row: no row at all; no such chat: its columns NULL.
_CHAT_FIELDS = [field.attname for field in Chat._meta.concrete_fields]
_SESSION_MEMBER_CHAT_SQL = f"""
SELECT viewer.*, {", ".join(f"c.{field.column}" for field in Chat._meta.concrete_fields)},
       EXISTS (SELECT 1 FROM chats_chatmember m WHERE m.chat_id = c.id AND m.user_id = viewer.id)
FROM ({SESSION_USER_SQL}) AS viewer LEFT JOIN chats_chat c ON c.id = %(chat)s
"""


def chat_for_member_of_session(chat_id, *, claims: SessionClaims) -> tuple[User | None, Chat | None]:
    """(the user a token with `claims` speaks for, as `accounts.selectors.session_user`
    answers, and `chat_for_member` for that user); (None, None) when that check refuses the
    token. One query on PostgreSQL. Raises as `chat_for_member` does (a malformed id before any
    query); the caller answers those after checking the token on its own (authentication first)."""
    chat_uuid = uuid_or_none(chat_id)
    if chat_uuid is None:
        raise NotFound(CHAT_NOT_FOUND)
    if connection.vendor != "postgresql":
        viewer = claims_user(claims)
        return (viewer, chat_for_member(chat_uuid, viewer)) if viewer is not None else (None, None)
    viewer, columns = session_statement_row(_SESSION_MEMBER_CHAT_SQL, {"chat": chat_uuid}, claims=claims)
    if viewer is None:
        return None, None
    if columns[0] is None:
        return viewer, _member_chat(None)
    chat = Chat.from_db(connection.alias, _CHAT_FIELDS, columns[:-1])
    chat.is_member = columns[-1]
    return viewer, _member_chat(chat)


def _member_chat(chat: Chat | None) -> Chat:
    # chat_for_member's rule on a chat read with `is_member` (None: no such chat).
    if chat is None:
        raise NotFound(CHAT_NOT_FOUND)
    if not chat.is_member:
        raise Forbidden(NOT_A_MEMBER)
    return chat


def uuid_or_none(value) -> UUID | None:
    """`value` as a UUID, or None when it is not one (a malformed id in a path)."""
    if isinstance(value, UUID):
        return value
    try:
        return UUID(str(value))
    except ValueError:
        return None


def chat_with_users(*, chat_id) -> Chat:
    """One chat with its members prefetched (two queries), for answering a create."""
    return Chat.objects.prefetch_related(_members_prefetch()).get(pk=chat_id)


def _members_prefetch() -> Prefetch:
    # Memberships in the order they were made (the creator first): a stable order for clients.
    return Prefetch("memberships", queryset=ChatMember.objects.select_related("user").order_by("id"))


def chat_messages_page(
    *, chat: Chat, limit: int, offset: int = 0, before: int | None = None, after: int | None = None
) -> Page:
    """One page of a chat's history, newest first, with authors (one query).

    `after` (a message id) answers the messages after it, oldest first (EXTENSIONS §2);
    `before` (a message id) pages by keyset and then `offset` is ignored; otherwise `offset`
    counts back from the newest message. Both walk the (chat, -id) index, so a page costs the
    same at 100 or 1,000,000 messages (offset is bounded by the caller). The contract pages it
    by offset and `before`, so the page has no cursor.
    """
    # A deleted account's messages are hidden at once, before the purge removes them.
    messages = (
        Message.objects.filter(chat=chat)
        .exclude(user_id__in=deleted_user_ids())
        .select_related("user", "reply_to__user")
        .order_by("-id")
    )
    if after is not None:
        # Catch-up, oldest first: ids commit in order within a chat (message_send locks the chat
        # first), so a page after the last id a client holds never skips a message.
        return Page(items=list(messages.filter(id__gt=after).order_by("id")[:limit]))
    if before is not None:
        return Page(items=list(messages.filter(id__lt=before)[:limit]))
    return Page(items=list(messages[offset : offset + limit]))


# --- The chat list (EXTENSIONS §2) -----------------------------------------------------------------
CHAT_LIST_KEY = ("activity", "chat_id")
UNREAD_EXACT_UP_TO = 999

# Messages after the member's marker not sent by them, counted over at most 999 rows of the
# (chat, -id) index: exact up to 999, 999 above, whatever the chat's size (a LIMIT rather than
# LEAST, which the SQLite of `make run` lacks). Sending moves the
# sender's marker, so the member's own messages after it are rare and the scan stays bounded.
_UNREAD_SQL = f"""
    SELECT COUNT(*) FROM (
        SELECT 1 FROM chats_message unread
        WHERE unread.chat_id = chats_chatmember.chat_id
          AND unread.id > COALESCE(chats_chatmember.last_read_message_id, 0)
          AND unread.user_id <> chats_chatmember.user_id
        LIMIT {UNREAD_EXACT_UP_TO}
    ) AS bounded
"""


def chat_list_rows(*, user):
    """The caller's memberships with their chats and bounded counts, in list order (through the
    ORM, for a chat's detail and the contract's `user_chats`; the list itself runs the same
    query written out, `chat_list_values`)."""
    return (
        ChatMember.objects.filter(user_id=user.pk)
        .select_related("chat")
        .annotate(
            activity=Coalesce(F("chat__last_message_at"), F("chat__created_at")),
            unread_count=RawSQL(_UNREAD_SQL, [], output_field=IntegerField()),
            last_message_id=Subquery(
                Message.objects.filter(chat_id=OuterRef("chat_id"))
                .exclude(user_id__in=deleted_user_ids())
                .order_by("-id")
                .values("id")[:1]
            ),
            members_count=Subquery(
                ChatMember.objects.filter(chat_id=OuterRef("chat_id"))
                .order_by()
                .values("chat_id")
                .annotate(total=Count("*"))
                .values("total")
            ),
        )
        .order_by("-activity", "-chat_id")
    )


# The chat list as bare rows (`chat_list_values`): what `chat_list_rows` and `chats_complete`
# read in three ORM queries, written out as one prepared query (social.db.prepared_cursor)
# whose columns are read into tuples. A page of 20 chats through the ORM cost ~9-10 ms of CPU
# (compiling three querysets, a model instance per chat, member and message, the prefetch
# machinery) for queries PostgreSQL answers in < 1 ms (issue #26).
# The ids the answer only shows (members, authors, owner, the message's chat) come as text: a
# UUID read (psycopg builds a uuid.UUID in Python) and then written (str) cost ~2 µs each, ~80
# of them a page. The chat's own id stays a UUID: the page's cursor is made of it.
_USER_TABLE = User._meta.db_table
_CHAT_LIST_SQL = f"""
SELECT page.chat_id, page.title, page.avatar, page.owner_id, page.direct_key, page.created_at, page.activity,
       mine.last_read_message_id,
       (SELECT COUNT(*) FROM (
            SELECT 1 FROM chats_message unread
            WHERE unread.chat_id = page.chat_id
              AND unread.id > COALESCE(mine.last_read_message_id, 0)
              AND unread.user_id <> mine.user_id
            LIMIT {UNREAD_EXACT_UP_TO}
        ) AS bounded) AS unread_count,
       msg.id AS last_message_id,
       -- Counted only when the embedded members reached their bound (CHAT_MEMBERS_EMBEDDED): below
       -- it they are every member of the chat, and most chats are that small.
       CASE WHEN cardinality(members.ids) < %(embedded)s THEN cardinality(members.ids)
            ELSE (SELECT COUNT(*) FROM chats_chatmember counted WHERE counted.chat_id = page.chat_id)
       END AS members_count,
       msg.id, msg.chat_id::text AS message_chat_id, msg.text, msg.created_at, msg.edited_at, msg.images,
       msg.reply_to_id,
       author.id::text, author.username, author.email, author.avatar,
       quoted.id, quoted.text, quoted.user_id::text, quoted_author.username, quoted_author.deleted_at,
       members.ids, members.usernames, members.emails, members.avatars
FROM (
    -- The caller's chats read by their primary keys in one index scan (= ANY of the ids): its
    -- cost follows the caller's chats, not every chat there is (as a plain join the planner
    -- hashed the memberships against a scan of all chats, ~3 ms at 4,000), and it costs less
    -- than one probe per membership through a nested loop (~0.1 ms of 0.7 at 200 chats).
    SELECT c.id AS chat_id, c.title, c.avatar, c.owner_id::text AS owner_id, c.direct_key, c.created_at,
           COALESCE(c.last_message_at, c.created_at) AS activity
    FROM chats_chat c
    WHERE c.id = ANY(ARRAY(SELECT cm.chat_id FROM chats_chatmember cm WHERE cm.user_id = %(user)s)) {{after}}
    ORDER BY activity DESC, c.id DESC
    LIMIT %(limit)s
) page
-- Everything below for the page's rows only, after the LIMIT: the caller's membership (their
-- marker), one row per chat looked up by chat and user, then the last message not of a deleted
-- account, with its author and quote (a quote of a deleted message has no row). The membership
-- is a LATERAL subquery with a LIMIT so that the planner cannot pull it up into a plain join: as
-- a join its generic plan scanned all of the caller's memberships (by user) once per row of the
-- page and filtered on the chat, 21 x 200 rows for a reader of 200 chats (1.25 against 0.80 ms
-- a page, issue #26; chats/tests/test_chat_list.py holds it to one row a chat).
JOIN LATERAL (
    SELECT mine.last_read_message_id, mine.user_id FROM chats_chatmember mine
    WHERE mine.chat_id = page.chat_id AND mine.user_id = %(user)s LIMIT 1
) mine ON true
LEFT JOIN LATERAL (
    SELECT last.id, last.chat_id, last.user_id, last.text, last.created_at, last.edited_at, last.images,
           last.reply_to_id
    FROM chats_message last
    WHERE last.chat_id = page.chat_id
      AND last.user_id NOT IN (SELECT gone.id FROM {_USER_TABLE} gone WHERE gone.deleted_at IS NOT NULL)
    ORDER BY last.id DESC LIMIT 1
) msg ON true
LEFT JOIN {_USER_TABLE} author ON author.id = msg.user_id
LEFT JOIN chats_message quoted ON quoted.id = msg.reply_to_id
LEFT JOIN {_USER_TABLE} quoted_author ON quoted_author.id = quoted.user_id
-- At most CHAT_MEMBERS_EMBEDDED members in joining order, as column arrays (read in C): read in
-- that order from chat_member_joining_idx up to the LIMIT, users joined on the way. The arrays
-- take the rows in the order the subquery gives them (a plain aggregate over a sorted
-- subquery): an ORDER BY in each array_agg sorted the same rows four times per chat, ~0.1 ms
-- a page (chats/tests/test_chat_list.py holds the order).
LEFT JOIN LATERAL (
    SELECT array_agg(m.id) AS ids, array_agg(m.username) AS usernames,
           array_agg(m.email) AS emails, array_agg(m.avatar) AS avatars
    FROM (
        SELECT u.id::text AS id, u.username, u.email, u.avatar FROM chats_chatmember joined
        JOIN {_USER_TABLE} u ON u.id = joined.user_id
        WHERE joined.chat_id = page.chat_id ORDER BY joined.id LIMIT %(embedded)s
    ) m
) members ON true
ORDER BY page.activity DESC, page.chat_id DESC
"""
# The keyset bound as keyset_filter writes it.
_CHAT_LIST_AFTER_SQL = (
    "AND COALESCE(c.last_message_at, c.created_at) <= %(at)s AND (COALESCE(c.last_message_at, c.created_at) < %(at)s "
    "OR (COALESCE(c.last_message_at, c.created_at) = %(at)s AND c.id < %(id)s))"
)
# With the user check, the commented text is over psycopg's 4 kB: prepared_cursor sends it
# compacted (social.db.sql_compact).
_CHAT_LIST_FIRST = _CHAT_LIST_SQL.format(after="")
_CHAT_LIST_NEXT = _CHAT_LIST_SQL.format(after=_CHAT_LIST_AFTER_SQL)
# The list and the check of the token's user (accounts.selectors.session_user) in one prepared
# statement, as the feed's (posts.selectors.feed_page_of_session): the user's row, which alone
# decides whether the caller is answered, beside each of the page's rows (or alone, its chat
# columns NULL, when the user has no chat; no user row: no row at all). A statement of its own
# cost this process ~0.1 ms of CPU and PostgreSQL its own round of bind, snapshot and executor
# per request (issue #26).
_SESSION_CHAT_LIST_SQL = f"""
SELECT viewer.*, list.*
FROM ({SESSION_USER_SQL}) AS viewer
LEFT JOIN LATERAL ({{list}}) AS list ON true
ORDER BY list.activity DESC, list.chat_id DESC
"""
_SESSION_CHAT_LIST_FIRST = _SESSION_CHAT_LIST_SQL.format(list=_CHAT_LIST_FIRST)
_SESSION_CHAT_LIST_NEXT = _SESSION_CHAT_LIST_SQL.format(list=_CHAT_LIST_NEXT)
_CHAT = slice(0, 11)  # chat_id … members_count
_LAST_MESSAGE = slice(11, 27)  # the last message's columns, all NULL when it has none
_MEMBERS = slice(27, 31)


@dataclass(frozen=True, slots=True)
class ChatListRow:
    """One chat of the list as read: its own columns (`chat`: chat_id, title, avatar,
    owner_id, direct_key, created_at, activity, last_read_message_id, unread_count,
    last_message_id, members_count), its embedded members ((id, username, email, avatar)
    each) and its last message's columns or None."""

    chat: tuple
    members: list
    last_message: tuple | None


def chat_list_statement(
    *, user, page: PageRequest, checked: bool = False, embedded: int | None = None
) -> tuple[str, dict]:
    """The SQL and parameters of `chat_list_values`'s query (also for bench/chat_list_sql.py),
    with the token user's check when `checked` (`chat_list_values_of_session`; `user` then
    any object with the claims' `pk`), at most `embedded` members a chat (default
    CHAT_MEMBERS_EMBEDDED). A cursor whose values do not parse is a 400 (InvalidCursor) before
    anything runs."""
    if embedded is None:
        embedded = max(settings.CHAT_MEMBERS_EMBEDDED, 0)
    params = {"embedded": embedded, "user": user.pk, "limit": page.limit + 1}
    if page.after is not None:
        params["at"], params["id"] = cursor_values([Chat._meta.get_field("created_at"), Chat._meta.pk], page.after)
    if checked:
        return (_SESSION_CHAT_LIST_NEXT if page.after is not None else _SESSION_CHAT_LIST_FIRST), params
    return (_CHAT_LIST_NEXT if page.after is not None else _CHAT_LIST_FIRST), params


def chat_list_values(*, user, page: PageRequest, embedded: int | None = None) -> Page:
    """A page of `user`'s chats, most recent activity (last message, else creation) first, as
    bare rows (ChatListRow) for `chats.serializers.chat_list_items`: each with its bounded
    unread count, members count, marker, at most CHAT_MEMBERS_EMBEDDED members (`embedded` on
    PostgreSQL, as in `chat_list_statement`) and its last message (with its author and quote)
    or None. One prepared query whatever the number of chats, members or messages."""
    if connection.vendor != "postgresql":
        return _chat_list_values_orm(user=user, page=page)
    with prepared_cursor(connection) as cursor:
        cursor.execute(*chat_list_statement(user=user, page=page, embedded=embedded))
        rows = cursor.fetchall()
    return _chat_list_page(rows, page=page)


def chat_list_values_of_session(
    *, claims: SessionClaims, page: PageRequest, embedded: int | None = None
) -> tuple[User | None, Page | None]:
    """(the user a token with `claims` speaks for, as `accounts.selectors.session_user`
    answers, and that user's `chat_list_values`, at most `embedded` members a chat on
    PostgreSQL as in `chat_list_statement`); (None, None) when that check refuses the token.
    One query on PostgreSQL; two elsewhere."""
    if connection.vendor != "postgresql":
        viewer = claims_user(claims)
        return (viewer, chat_list_values(user=viewer, page=page)) if viewer is not None else (None, None)
    sql, params = chat_list_statement(user=ClaimedUser(claims.user_id), page=page, checked=True, embedded=embedded)
    params["session"] = claims.session_id
    with prepared_cursor(connection) as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    viewer = session_user_of_row(rows[0] if rows else None, issued_at=claims.issued_at)
    if viewer is None:
        return None, None
    # No chat: the user's row alone, its chat columns NULL.
    chats = [row[SESSION_USER_WIDTH:] for row in rows] if rows[0][SESSION_USER_WIDTH] is not None else []
    return viewer, _chat_list_page(chats, page=page)


@dataclass(frozen=True, slots=True)
class ClaimedUser:
    """What a read keyed by its caller (chat_list_statement, acting_as_check) reads of them: a
    token's claimed id, before the check that rides in that read."""

    pk: UUID


def _chat_list_page(rows: list, *, page: PageRequest) -> Page:
    cut = page_cut(rows, limit=page.limit, key=lambda row: (row[6].isoformat(), row[0]))
    items = []
    for row in cut.items:
        ids, usernames, emails, avatars = row[_MEMBERS]
        members = list(zip(ids, usernames, emails, avatars, strict=True)) if ids else []
        items.append(ChatListRow(row[_CHAT], members, row[_LAST_MESSAGE] if row[9] is not None else None))
    return Page(items=items, next_cursor=cut.next_cursor)


def _chat_list_values_orm(*, user, page: PageRequest) -> Page:
    """`chat_list_values` through the ORM (three queries), for the SQLite of `make run`, which
    has neither LATERAL nor array_agg."""
    rows = keyset_filter(chat_list_rows(user=user), fields=CHAT_LIST_KEY, after=page.after)
    memberships = take_page(rows, limit=page.limit, key=lambda row: (row.activity.isoformat(), row.chat_id))
    chats = [_chat_view(row) for row in memberships.items]
    chats_complete(chats)
    items = [_chat_list_row(chat, chat.embedded_memberships) for chat in chats]
    return Page(items=items, next_cursor=memberships.next_cursor)


def _chat_list_row(chat: Chat, memberships=None) -> ChatListRow:
    # A chat completed through the ORM as `_CHAT_LIST_SQL` reads it, with `memberships` (every
    # prefetched one when not given) as its embedded members.
    own = (chat.pk, chat.title, chat.avatar.name or None, chat.owner_id, chat.direct_key, chat.created_at)
    counts = (chat.last_read_message_id, chat.unread_count, chat.last_message_id, chat.members_count)
    memberships = chat.memberships.all() if memberships is None else memberships
    members = [_user_columns(member.user) for member in memberships]
    return ChatListRow((*own, chat.activity, *counts), members, _message_columns(chat.last_message))


def _user_columns(user) -> tuple:
    return (user.pk, user.username, user.email, user.avatar.name or None)


def _message_columns(message: Message | None) -> tuple | None:
    """A message's columns as `_CHAT_LIST_SQL` reads them (`_LAST_MESSAGE`)."""
    if message is None:
        return None
    try:
        quoted = message.reply_to
    except Message.DoesNotExist:
        quoted = None
    quote = (
        (None,) * 5
        if quoted is None
        else (quoted.pk, quoted.text, quoted.user_id, quoted.user.username, quoted.user.deleted_at)
    )
    own = (message.pk, message.chat_id, message.text, message.created_at, message.edited_at, message.images)
    return (*own, message.reply_to_id, *_user_columns(message.user), *quote)


def _chat_view(membership: ChatMember) -> Chat:
    chat = membership.chat
    chat.unread_count = membership.unread_count
    chat.last_read_message_id = membership.last_read_message_id
    chat.last_message_id = membership.last_message_id
    chat.members_count = membership.members_count
    chat.activity = membership.activity
    return chat


def chats_complete(chats: list[Chat]) -> None:
    """Attach the embedded members and the last message (with its author) to chats that carry
    `last_message_id`: two queries for any number of chats."""
    embedded = ChatMember.objects.select_related("user").order_by("id")[: settings.CHAT_MEMBERS_EMBEDDED]
    # to_attr: Django applies a sliced prefetch (one window query) only into a list attribute.
    prefetch_related_objects(chats, Prefetch("memberships", queryset=embedded, to_attr="embedded_memberships"))
    _last_messages_attach(chats)


def user_chats(*, user) -> list[Chat]:
    """Every chat of `user` (GET /api/users/<id>/chats, the contract's path), most recent
    activity first, as the chat list's objects but with every member prefetched (the contract
    lists them all; a chat has at most 500): `user_chats_values` on the SQLite of `make run`.

    Three queries whatever the number of chats, members or messages.
    """
    chats = [_chat_view(row) for row in chat_list_rows(user=user)]
    prefetch_related_objects(chats, _members_prefetch())
    _last_messages_attach(chats)
    return chats


# No chat count or membership reaches it: the bounds of `user_chats_values`' statement.
_EVERY_ROW = 2**31 - 1
_EVERY_CHAT = PageRequest(limit=_EVERY_ROW - 1, after=None)


def user_chats_values(*, user) -> list[ChatListRow]:
    """Every chat of `user` as `user_chats` answers, as bare rows for
    `chats.serializers.chat_list_items` (every member embedded), for a caller DRF has already
    checked (a cookie): the chat list's statement, unbounded (one query on PostgreSQL); through
    the ORM (`user_chats`'s objects as rows) on the SQLite of `make run`, which lacks LATERAL
    and array_agg. Through the ORM and its serializer, 200 chats cost ~90 ms of CPU."""
    if connection.vendor != "postgresql":
        return [_chat_list_row(chat) for chat in user_chats(user=user)]
    return chat_list_values(user=user, page=_EVERY_CHAT, embedded=_EVERY_ROW).items


def user_chats_values_of_session(*, claims: SessionClaims) -> tuple[User | None, list[ChatListRow] | None]:
    """(the user a token with `claims` speaks for, as `accounts.selectors.session_user`
    answers, and that user's `user_chats_values`); (None, None) when that check refuses the
    token. One query on PostgreSQL, the check in the statement."""
    if connection.vendor != "postgresql":
        viewer = claims_user(claims)
        return (viewer, user_chats_values(user=viewer)) if viewer is not None else (None, None)
    viewer, page = chat_list_values_of_session(claims=claims, page=_EVERY_CHAT, embedded=_EVERY_ROW)
    return (viewer, page.items) if viewer is not None else (None, None)


def chat_for_event(*, chat_id) -> Chat:
    """One chat as `chat.created` / `chat.updated` frames show it: members count, last message,
    at most CHAT_MEMBERS_EMBEDDED members (three queries). No viewer: the caller adds the
    viewer's keys when every receiver shares them."""
    chat = (
        Chat.objects.filter(pk=chat_id)
        .annotate(
            last_message_id=Subquery(Message.objects.filter(chat_id=OuterRef("pk")).order_by("-id").values("id")[:1]),
            members_count=count_subquery(ChatMember.objects.filter(chat_id=OuterRef("pk"))),
        )
        .get()
    )
    chats_complete([chat])
    return chat


def chat_member_user(*, chat: Chat, user_id):
    """The member `user_id` of `chat` (one query); NotFound when they are not one."""
    user_uuid = uuid_or_none(user_id)
    memberships = ChatMember.objects.select_related("user").filter(chat_id=chat.pk, user_id=user_uuid)
    membership = memberships.first() if user_uuid else None
    if membership is None:
        raise NotFound(NOT_THAT_MEMBER)
    return membership.user


def _last_messages_attach(chats: list[Chat]) -> None:
    """Each chat's `last_message` (with its author and quote) from its `last_message_id`: one
    query for any number of chats, none when no chat has a message."""
    ids = [chat.last_message_id for chat in chats if chat.last_message_id is not None]
    last = Message.objects.select_related("user", "reply_to__user").in_bulk(ids) if ids else {}
    for chat in chats:
        chat.last_message = last.get(chat.last_message_id)


def chat_unread_count(*, chat_id, user_id) -> int:
    """The member's unread count in one chat, bounded as in the chat list (one query)."""
    return (
        ChatMember.objects.filter(chat_id=chat_id, user_id=user_id)
        .annotate(unread_count=RawSQL(_UNREAD_SQL, [], output_field=IntegerField()))
        .values_list("unread_count", flat=True)
        .get()
    )


def message_for_member(message_id: int, user) -> Message:
    """The message `message_id` (with its chat, author and quote) if `user` is a member of its
    chat or staff (one query). NotFound for no such message, Forbidden for a non-member."""
    membership = ChatMember.objects.filter(chat=OuterRef("chat_id"), user_id=user.pk)
    message = (
        Message.objects.select_related("chat", "user", "reply_to__user")
        .annotate(is_member=Exists(membership))
        .filter(pk=message_id)
        .first()
    )
    if message is None:
        raise NotFound(MESSAGE_NOT_FOUND)
    if not (message.is_member or user.is_staff):
        raise Forbidden(NOT_A_MEMBER)
    return message


def chat_detail(*, chat: Chat, user) -> Chat:
    """One chat of `user` as the chat list shows it, plus `read_markers`: the members' markers
    (for "seen by") in chats of at most READ_RECEIPTS_MAX_MEMBERS members, else [], leaving out
    members who do not share read receipts (the caller too: their own marker is the chat's
    `last_read_message_id`). Precondition:
    `user` is a member. Four queries."""
    membership = chat_list_rows(user=user).get(chat_id=chat.pk)
    detail = _chat_view(membership)
    chats_complete([detail])
    detail.read_markers = []
    if detail.members_count <= settings.READ_RECEIPTS_MAX_MEMBERS:
        detail.read_markers = list(
            ChatMember.objects.filter(
                chat_id=chat.pk, last_read_message_id__isnull=False, user__share_read_receipts=True
            )
            .order_by("id")
            .values("user_id", message_id=F("last_read_message_id"))
        )
    return detail


MEMBERS_PAGE_KEY = ("id",)


def chat_members_page(*, chat: Chat, page: PageRequest) -> Page:
    """A page of `chat`'s members (users), in joining order: the creator first, then the
    members named at creation in the order given, then later additions (one query)."""
    memberships = ChatMember.objects.filter(chat_id=chat.pk).select_related("user").order_by("id")
    memberships = keyset_filter(memberships, fields=MEMBERS_PAGE_KEY, after=page.after, descending=False)
    rows = take_page(memberships, limit=page.limit, key=lambda membership: (membership.pk,))
    return Page(items=[membership.user for membership in rows.items], next_cursor=rows.next_cursor)


def user_chats_export(*, user_id):
    """A user's chats for their export, each with the messages the user wrote in it and the
    archive paths of their photos (one query per chat: one chat's own messages at a time in
    memory)."""
    chats = Chat.objects.filter(memberships__user_id=user_id).order_by("created_at", "id").values_list("id", "title")
    for chat_id, title in chats.iterator(chunk_size=500):
        messages = Message.objects.filter(chat_id=chat_id, user_id=user_id).order_by("id")
        yield {
            "id": str(chat_id),
            "title": title,
            "messages": [
                {
                    "id": message_id,
                    "text": text,
                    "created_at": created_at,
                    "images": [f"images/{name}" for name in images],
                }
                for message_id, text, created_at, images in messages.values_list(
                    "id", "text", "created_at", "images"
                ).iterator(chunk_size=500)
            ],
        }


def user_message_files(*, user_id) -> Iterator[str]:
    """The stored names of the photos of a user's own messages (their export's `images/`)."""
    with_images = Message.objects.filter(user_id=user_id).exclude(images=[]).order_by("id")
    return (name for images in with_images.values_list("images", flat=True).iterator(chunk_size=500) for name in images)
