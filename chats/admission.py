"""Who may be put in a chat with whom: the one check of every write that adds members.

Chat create calls it; so must member add (`POST /api/chats/<id>/members`) and any future
path that puts users in a chat. A block (safety) between any two users the write would put
together → Blocked (403). Users already sharing a chat before a block stay in it (EXTENSIONS.md
§5: shared group chats are unaffected); only new company is refused.
"""

from collections.abc import Sequence
from uuid import UUID

from accounts.models import User
from chats.models import Chat, ChatMember
from safety.selectors import block_among_check


def chat_admission_check(*, inviter: User, user_ids: Sequence[UUID], chat: Chat | None = None) -> None:
    """Blocked (403) when putting the users `user_ids` in `chat` (None: a new chat of
    `inviter`) would put two users separated by a block in one chat: a new user and a member
    (the inviter counts as one), or two new users. One query, whatever the chat's size."""
    if chat is None:
        members = [inviter.pk]
    else:
        members = ChatMember.objects.filter(chat_id=chat.pk).values("user_id")
    new_ids = [user_id for user_id in dict.fromkeys(user_ids) if user_id != inviter.pk]
    if new_ids:
        block_among_check(new_ids=new_ids, member_ids=members)
