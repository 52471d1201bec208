"""A heavy user's account deletion, timed: the answer's service and the background purge.

The user of issue #23's figure: 1,000 posts, 10,000 likes on others' posts, 50 chats with 20
messages of theirs each. Rows are written in bulk (no images: stored files are deleted by their
own task after each step, which this does not time). Then `accounts.services.account_delete`
(what `POST /api/auth/account/delete` waits for) and the purge's steps, one by one as
`accounts.tasks.account_purge` runs them, each timed: the longest is the longest transaction.

Writes to the database it is given; run it on a scratch one (migrated), never a shared one:

    DEBUG=1 DB_POOL=0 DATABASE_URL=postgres://…/scratch python -m bench.account_purge
"""

import os
import time
import uuid


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "social.settings")
    os.environ["TASKS_BACKEND"] = "django_tasks_db.DatabaseBackend"  # queued, not run inline
    import django

    django.setup()
    from django.conf import settings
    from django.utils import timezone

    from accounts.models import User
    from accounts.services import account_delete, account_purge_step
    from chats.models import Chat, ChatMember, Message
    from posts.models import Like, Post

    password = "Slozhniy-Parol-2026"
    tag = uuid.uuid4().hex[:8]
    now = timezone.now()
    heavy = User.objects.create_user(email=f"heavy-{tag}@example.com", username=f"heavy{tag}", password=password)
    others = [
        User.objects.create_user(email=f"o{i}-{tag}@example.com", username=f"o{i}x{tag}", password=None)
        for i in range(50)
    ]
    Post.objects.bulk_create([Post(author=heavy, description=f"p{i}", created_at=now) for i in range(1000)])
    theirs = Post.objects.bulk_create(
        [Post(author=others[i % 50], description=f"t{i}", created_at=now, likes_count=1) for i in range(10_000)]
    )
    Like.objects.bulk_create([Like(post=post, user=heavy) for post in theirs])
    chats = Chat.objects.bulk_create(
        [Chat(title=f"c{i}", owner=heavy if i % 2 else None, messages_count=20) for i in range(50)]
    )
    ChatMember.objects.bulk_create(
        [
            row
            for i, chat in enumerate(chats)
            for row in (ChatMember(chat=chat, user=heavy), ChatMember(chat=chat, user=others[i]))
        ]
    )
    Message.objects.bulk_create([Message(chat=chat, user=heavy, text="m") for chat in chats for _ in range(20)])

    started = time.monotonic()
    account_delete(user=heavy, password=password)
    answer = time.monotonic() - started
    steps = []
    started = time.monotonic()
    more = True
    while more:
        step_started = time.monotonic()
        more = account_purge_step(user_id=heavy.pk)
        steps.append(time.monotonic() - step_started)
    purge = time.monotonic() - started

    assert not User.objects.filter(pk=heavy.pk).exists()
    assert not Post.objects.filter(pk__in=[post.pk for post in theirs], likes_count__gt=0).exists()
    assert set(Chat.objects.filter(pk__in=[chat.pk for chat in chats]).values_list("messages_count", flat=True)) == {0}
    print(f"ACCOUNT_PURGE_BATCH={settings.ACCOUNT_PURGE_BATCH}")
    print(f"answer (account_delete): {answer * 1000:.0f} ms")
    print(f"purge: {purge:.2f} s in {len(steps)} steps, longest step {max(steps) * 1000:.0f} ms")
    print("steps (ms):", [round(seconds * 1000) for seconds in steps])


if __name__ == "__main__":
    main()
