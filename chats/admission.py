"""Who may be put in a chat with whom: the one check every way into a chat goes through
(chat create now; member add calls the same function).

EXTENSIONS.md §8: a user whose `chat_invites` is "friends" may be put in a chat only with their
friends. Further rules of admission (blocks, §5) belong here too, so that create and member add
can never disagree.
"""

from collections.abc import Sequence
from uuid import UUID

from accounts.models import ChatInvites, User
from friends.models import Friendship
from social.exceptions import Forbidden

FRIENDS_ONLY = "Пользователь {username} принимает приглашения в чаты только от друзей."


def chat_admission_check(*, inviter: User, user_ids: Sequence[UUID]) -> None:
    """Raise Forbidden (403) unless `inviter` may put the users `user_ids` in one chat with
    themselves.

    The people judged are `inviter` and `user_ids` together (a create: every member; a member
    add: the owner and those added). Each one of `user_ids` who takes invites only from friends
    must be a friend of every other one of them; the inviter's own setting is not asked (they
    chose the chat). Preconditions: `user_ids` are existing active users. Two queries at most,
    whatever the number of users.
    """
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
