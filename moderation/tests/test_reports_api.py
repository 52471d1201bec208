"""`POST /api/reports` (EXTENSIONS.md §5): reporting, its snapshot, and what must not erase it."""

import io
import threading
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from accounts.models import User
from accounts.services import user_delete
from accounts.tests.factories import PASSWORD, UserFactory
from chats.services import message_edit
from moderation import services
from moderation.models import Report, ReportImage
from posts.models import Comment, Post

pytestmark = pytest.mark.django_db
REPORTS = "/api/reports"


def report(api, target, target_id, reason="spam", **extra):
    return api.post(REPORTS, {"target": target, "id": target_id, "reason": reason, **extra}, format="json")


# --- Success ------------------------------------------------------------------------------------
def test_a_report_of_each_kind_answers_201_open_and_keeps_its_snapshot(
    api, user, other_user, photo_post, make_comment, make_message
):
    post = photo_post(other_user, images=1)
    comment = make_comment(other_user, text="комментарий-улика")
    message = make_message(other_user, user, text="сообщение-улика")
    cases = [
        ("post", str(post.pk), "пост с фото", ""),
        ("comment", str(comment.pk), "комментарий-улика", str(comment.post_id)),
        ("message", message.pk, "сообщение-улика", str(message.chat_id)),
        ("user", str(other_user.pk), other_user.username, ""),
    ]
    for kind, target_id, text, context in cases:
        response = report(api, kind, target_id, reason="abuse", text="посмотрите")
        assert response.status_code == 201, response.content
        body = response.json()
        assert body == {"id": body["id"], "status": "open"}
        stored = Report.objects.get(pk=body["id"])
        assert (stored.target_kind, stored.target_id) == (kind, str(target_id))
        assert (stored.snapshot_text, stored.context_id) == (text, context)
        assert (stored.reporter_id, stored.reporter_username) == (user.pk, user.username)
        assert (stored.target_author_id, stored.target_author_username) == (other_user.pk, other_user.username)
        assert (stored.reason, stored.text) == ("abuse", "посмотрите")
    assert Report.objects.get(target_kind="message").context_title == "чат"


def test_a_message_id_may_come_as_digits_and_text_is_optional(api, user, other_user, make_message):
    message = make_message(other_user, user)
    response = api.post(REPORTS, {"target": "message", "id": str(message.pk), "reason": "other"}, format="json")
    assert response.status_code == 201
    assert Report.objects.get().text == ""


def test_a_post_report_copies_its_images_under_reports_and_they_outlive_the_post(
    api, other_user, photo_post, bucket_keys, client_for, django_capture_on_commit_callbacks
):
    post = photo_post(other_user, images=2)
    originals = {name for row in post.images.values_list("file", "thumb", "medium") for name in row}

    assert report(api, "post", str(post.pk)).status_code == 201

    copies = list(ReportImage.objects.order_by("position"))
    assert len(copies) == 2
    copied = {image.file.name for image in copies} | {image.thumb.name for image in copies}
    assert all(name.startswith("reports/") for name in copied)
    assert copied <= bucket_keys()
    before = [default_storage.open(image.file.name).read() for image in copies]

    with django_capture_on_commit_callbacks(execute=True):  # the files go after commit
        assert client_for(other_user).delete(f"/api/posts/{post.pk}").status_code == 204

    keys = bucket_keys()
    assert not originals & keys  # the post's own files are gone ...
    assert copied <= keys  # ... the evidence is not
    assert [default_storage.open(image.file.name).read() for image in copies] == before


def test_an_image_missing_from_the_storage_is_left_out_and_the_report_stands(api, other_user, photo_post):
    from posts.tests.factories import PostImageFactory

    post = photo_post(other_user, images=1)
    PostImageFactory(post=post, file="posts/missing/never-stored.jpg", position=5)
    assert report(api, "post", str(post.pk)).status_code == 201
    copies = list(ReportImage.objects.all())
    assert len(copies) == 1 and copies[0].file.name.startswith("reports/")


def test_a_user_report_copies_the_avatar(api, client_for, other_user, bucket_keys):
    from testsupport.images import image_upload

    response = client_for(other_user).patch(
        "/api/auth/current_user", {"avatar": image_upload("me.png", fmt="PNG")}, format="multipart"
    )
    assert response.status_code == 200
    assert report(api, "user", str(other_user.pk)).status_code == 201
    copy = ReportImage.objects.get()
    assert copy.file.name.startswith("reports/") and copy.file.name in bucket_keys()


def test_editing_or_deleting_the_content_keeps_the_evidence(
    api, user, other_user, client_for, make_comment, make_message
):
    message = make_message(other_user, user, text="было так")
    comment = make_comment(other_user, text="удалю потом")
    assert report(api, "message", message.pk).status_code == 201
    assert report(api, "comment", str(comment.pk)).status_code == 201

    message_edit(message=message, editor=other_user, text="стало иначе")
    author = client_for(other_user)
    assert author.delete(f"/api/messages/{message.pk}").status_code == 204
    assert author.delete(f"/api/posts/{comment.post_id}/comments/{comment.pk}").status_code == 204

    assert not Comment.objects.filter(pk=comment.pk).exists()
    texts = dict(Report.objects.values_list("target_kind", "snapshot_text"))
    assert texts == {"message": "было так", "comment": "удалю потом"}


@pytest.mark.django_db(transaction=True)
def test_reports_outlive_the_accounts_of_both_sides(client_for, photo_post, bucket_keys):
    reporter, author = UserFactory(), UserFactory()
    names = (reporter.username, author.username)
    post = photo_post(author, images=1)
    assert report(client_for(reporter), "post", str(post.pk)).status_code == 201
    copies = {image.file.name for image in ReportImage.objects.all()}

    # The author deletes their own account (the API, then the purge task: immediate in tests).
    response = client_for(author).post("/api/auth/account/delete", {"password": PASSWORD}, format="json")
    assert response.status_code == 204
    assert not User.objects.filter(pk=author.pk).exists()
    assert not Post.objects.filter(pk=post.pk).exists()
    # The reporter is deleted by staff (the same one way out).
    user_delete(user=User.objects.get(pk=reporter.pk))

    kept = Report.objects.get()
    assert (kept.reporter_id, kept.target_author_id) == (None, None)
    assert (kept.reporter_username, kept.target_author_username) == names
    assert kept.snapshot_text == "пост с фото"
    assert copies <= bucket_keys()


# --- Permission and visibility --------------------------------------------------------------------
def test_reporting_needs_a_signed_in_user(anon_client, other_user):
    response = report(anon_client, "user", str(other_user.pk))
    assert response.status_code == 401
    assert response.json() == {"detail": "Не удалось подтвердить учетные данные"}


def test_what_the_reporter_could_never_see_is_404(api, user, other_user, make_message, make_comment):
    strangers_message = make_message(other_user, UserFactory())
    inactive = UserFactory(is_active=False)
    comment = make_comment(other_user)
    Comment.objects.filter(pk=comment.pk).delete()
    cases = [
        ("message", strangers_message.pk, "Сообщение не найдено."),
        ("message", 10**12, "Сообщение не найдено."),
        ("post", "6f1c7c1e-0000-4000-8000-000000000000", "Пост не найден."),
        ("comment", str(comment.pk), "Комментарий не найден."),
        ("user", str(inactive.pk), "Пользователь не найден."),
        ("user", "6f1c7c1e-0000-4000-8000-000000000000", "Пользователь не найден."),
    ]
    for kind, target_id, message in cases:
        response = report(api, kind, target_id)
        assert (response.status_code, response.json()) == (404, {"detail": message}), (kind, target_id)
    assert not Report.objects.exists()


def test_the_same_reporter_and_target_while_open_is_409_until_it_is_closed(api, user, other_user, staff_user):
    assert report(api, "user", str(other_user.pk)).status_code == 201
    again = report(api, "user", str(other_user.pk), reason="abuse")
    assert again.status_code == 409
    assert again.json() == {"detail": services.ALREADY_REPORTED}
    # Someone else may report the same target.
    assert report_as(UserFactory(), "user", str(other_user.pk)).status_code == 201

    services.report_dismiss(report=Report.objects.first(), moderator=staff_user)
    assert report(api, "user", str(other_user.pk)).status_code == 201


def report_as(user, *args, **kwargs):
    from rest_framework.test import APIClient

    from accounts.services import session_start

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {session_start(user=user).access}")
    return report(client, *args, **kwargs)


def test_the_database_refuses_a_second_open_report_of_one_reporter_and_target(user, other_user):
    fields = {"reporter": user, "target_kind": "user", "target_id": str(other_user.pk), "reason": "spam"}
    Report.objects.create(**fields, status="dismissed")
    Report.objects.create(**fields)
    with pytest.raises(IntegrityError), transaction.atomic():
        Report.objects.create(**fields)


@pytest.mark.django_db(transaction=True)
def test_a_concurrent_duplicate_is_409_through_the_constraint(client_for, make_message):
    """A report inserted but not yet committed by another connection: this request's lookup
    cannot see it, so only the unique index stops the second row (it waits, then 409)."""
    reporter, author = UserFactory(), UserFactory()
    message = make_message(author, reporter)
    api = client_for(reporter)
    inserted, release = threading.Event(), threading.Event()
    answers = {}

    def first_report():
        try:
            with transaction.atomic():
                Report.objects.create(
                    reporter=reporter,
                    reporter_username=reporter.username,
                    target_kind="message",
                    target_id=str(message.pk),
                    target_author=author,
                    reason="spam",
                )
                inserted.set()
                release.wait(10)
        finally:
            connection.close()

    def second_report():
        try:
            answers["second"] = report(api, "message", message.pk)
        finally:
            connection.close()

    first = threading.Thread(target=first_report)
    first.start()
    assert inserted.wait(10)
    second = threading.Thread(target=second_report)
    second.start()
    second.join(1.0)
    assert second.is_alive()  # waiting on the first one's row in the unique index
    release.set()
    first.join(10)
    second.join(10)

    assert answers["second"].status_code == 409
    assert Report.objects.filter(status="open").count() == 1


def test_the_report_rate_limit_answers_429(api, settings):
    from social.ratelimit import social_rates_parse

    settings.SOCIAL_RATE_LIMITS = social_rates_parse("report=2/hour")
    targets = [UserFactory() for _ in range(3)]
    statuses = [report(api, "user", str(target.pk)).status_code for target in targets]
    assert statuses == [201, 201, 429]
    assert Report.objects.count() == 2


# --- Bad input ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "body, field",
    [
        ({"target": "video", "id": "x", "reason": "spam"}, "target"),
        ({"target": "user", "reason": "spam"}, "id"),
        ({"target": "user", "id": "USER", "reason": "boring"}, "reason"),
        ({"target": "user", "id": "USER", "reason": "spam", "text": "я" * 1001}, "text"),
        ({"target": "user", "id": "not-a-uuid", "reason": "spam"}, "id"),
        ({"target": "post", "id": 12, "reason": "spam"}, "id"),
        ({"target": "message", "id": "abc", "reason": "spam"}, "id"),
        ({"target": "message", "id": 1.5, "reason": "spam"}, "id"),
        ({"target": "message", "id": -3, "reason": "spam"}, "id"),
        ({"target": "message", "id": 2**70, "reason": "spam"}, "id"),
        ({"target": "message", "id": True, "reason": "spam"}, "id"),
        ({"target": "message", "id": "²", "reason": "spam"}, "id"),
        ({"target": "message", "id": "١٢", "reason": "spam"}, "id"),
        ({"target": "message", "id": "", "reason": "spam"}, "id"),
        ({"target": "user", "id": ["x"], "reason": "spam"}, "id"),
        ({"target": "user", "id": None, "reason": "spam"}, "id"),
    ],
)
def test_invalid_input_is_400_naming_the_field(api, other_user, body, field):
    body = {key: (str(other_user.pk) if value == "USER" else value) for key, value in body.items()}
    response = api.post(REPORTS, body, format="json")
    assert response.status_code == 400, response.content
    assert list(response.json()) == [field]
    assert not Report.objects.exists()


def test_a_body_that_is_not_an_object_is_400(api):
    response = api.post(REPORTS, ["user"], format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"detail"}


def test_the_text_may_be_1000_characters(api, other_user):
    assert report(api, "user", str(other_user.pk), text="я" * 1000).status_code == 201


# --- Keeping and pruning ----------------------------------------------------------------------------
def test_prune_deletes_reports_closed_over_90_days_ago_with_their_copies(
    api, other_user, photo_post, bucket_keys, staff_user, django_capture_on_commit_callbacks
):
    post = photo_post(other_user, images=1)
    assert report(api, "post", str(post.pk)).status_code == 201
    old = Report.objects.get()
    old_copies = {name for row in ReportImage.objects.values_list("file", "thumb") for name in row if name}
    services.report_dismiss(report=old, moderator=staff_user)
    Report.objects.filter(pk=old.pk).update(closed_at=timezone.now() - timedelta(days=91))
    recent = Report.objects.create(
        target_kind="user", target_id="1", reason="spam", status="resolved", closed_at=timezone.now() - timedelta(89)
    )
    still_open = Report.objects.create(
        target_kind="user", target_id="2", reason="spam", created_at=timezone.now() - timedelta(days=400)
    )

    output = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):  # the copies go after commit
        call_command("reports_prune", stdout=output)

    assert "1 reports" in output.getvalue()
    assert set(Report.objects.values_list("pk", flat=True)) == {recent.pk, still_open.pk}
    assert not old_copies & bucket_keys()


@pytest.fixture
def staff_user(db):
    return UserFactory(is_staff=True, is_superuser=True)
