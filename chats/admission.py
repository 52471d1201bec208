"""Who may be put in a chat with whom: the one check every way into a chat goes through (chat
create, member add, and any future path that puts users in a chat), so that they can never
disagree.

- Only existing active users (`chat_users_found`: ValidationError on `users` naming the others).
- Blocks (EXTENSIONS.md §5): putting two users separated by a block in one chat → Blocked (403).
  Users already sharing a chat before a block stay in it (shared group chats are unaffected);
  only new company is refused.
- Chat invites (§8): a user whose `chat_invites` is "friends" may be put in a chat only with
  their friends → Forbidden (403) otherwise.
Each rule is one query for the whole list, never one per user (a chat takes up to 500 members).
"""

from collections.abc import Sequence
from uuid import UUID

from django.core.exceptions import ValidationError

from accounts.models import ChatInvites, User
from chats.models import Chat, ChatMember
from friends.models import Friendship
from safety.selectors import block_among_check
from social.exceptions import Forbidden

UNKNOWN_USERS = "Пользователи не найдены: {ids}."
FRIENDS_ONLY = "Пользователь {username} принимает приглашения в чаты только от друзей."


def chat_users_found(*, inviter: User, user_ids: Sequence[UUID]) -> list[User]:
    """The users `user_ids`, in the order given (duplicates and the inviter dropped), when every
    one is an existing active user; ValidationError on `users` naming the others. One query."""
    wanted = list(dict.fromkeys(user_id for user_id in user_ids if user_id != inviter.pk))
    found = {user.pk: user for user in User.objects.filter(pk__in=wanted, is_active=True)}
    missing = [str(user_id) for user_id in wanted if user_id not in found]
    if missing:
        raise ValidationError({"users": [UNKNOWN_USERS.format(ids=", ".join(missing))]})
    return [found[user_id] for user_id in wanted]


def chat_admission_check(*, inviter: User, user_ids: Sequence[UUID], chat: Chat | None = None) -> None:
    """Raise unless `inviter` may put the users `user_ids` in `chat` (None: a new chat of
    `inviter`): Blocked or Forbidden (403). Preconditions: `user_ids` are existing active users
    (`chat_users_found`). At most three queries, whatever the chat's size."""
    new_ids = [user_id for user_id in dict.fromkeys(user_ids) if user_id != inviter.pk]
    if not new_ids:
        return
    if chat is None:
        members = [inviter.pk]
    else:
        members = ChatMember.objects.filter(chat_id=chat.pk).values("user_id")
    block_among_check(new_ids=new_ids, member_ids=members)
    _invites_check(inviter=inviter, user_ids=new_ids)


def direct_reopen_check(*, user: User, other_id: UUID) -> None:
    """Blocked (403) when `user` asks for their existing direct chat with `other_id` and a block
    separates them. Only blocks apply: nobody is put anywhere new, so chat invites are not asked.
    One query."""
    block_among_check(new_ids=[other_id], member_ids=[user.pk])


def _invites_check(*, inviter: User, user_ids: list[UUID]) -> None:
    """Forbidden (403) unless each of `user_ids` who takes invites only from friends is a friend
    of every other person judged: `inviter` and `user_ids` together (a create: every member; a
    member add: the owner and those added). The inviter's own setting is not asked (they chose
    the chat)."""
    people = {inviter.pk, *user_ids}
    guarded = list(
        User.objects.filter(pk__in=people - {inviter.pk}, chat_invites=ChatInvites.FRIENDS)
        .order_by("username")
        .values_list("pk", "username")
    )
    if not guarded:
        return
    friends_of: dict[UUID, set[UUID]] = {pk: set() for pk, _ in guarded}
    rows = Friendship.objects.filter(user_id__in=friends_of, friend_id__in=people).values_list("user_id", "friend_id")
    for user_id, friend_id in rows:
        friends_of[user_id].add(friend_id)
    for pk, username in guarded:
        if people - {pk} - friends_of[pk]:
            raise Forbidden(FRIENDS_ONLY.format(username=username))
