"""The reports queue in the admin: grouping, the target shown from the snapshot, actions through
the apps' services, the admin log, permissions and query counts."""

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.tests.factories import UserFactory
from chats.models import Message
from moderation.models import Report, ReportImage
from moderation.services import report_create
from posts.models import Comment, Post

pytestmark = pytest.mark.django_db
QUEUE = "/admin/moderation/report/"


@pytest.fixture
def staff(db):
    return UserFactory(is_staff=True, is_superuser=True)


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


def act(client, action: str, *reports: Report):
    return client.post(
        QUEUE, {"action": action, "_selected_action": [str(report.pk) for report in reports]}, follow=True
    )


def populate(size: int, photo_post, make_message, make_comment) -> None:
    """`size` targets of each kind, each reported twice."""
    for _ in range(size):
        author, first, second = UserFactory(), UserFactory(), UserFactory()
        post = photo_post(author, images=1)
        message = make_message(author, first, second)
        comment = make_comment(author)
        for reporter in (first, second):
            report_create(reporter=reporter, kind="post", target_id=post.pk, reason="spam")
            report_create(reporter=reporter, kind="message", target_id=message.pk, reason="abuse")
            report_create(reporter=reporter, kind="comment", target_id=comment.pk, reason="other")
            report_create(reporter=reporter, kind="user", target_id=author.pk, reason="violence")


def queries_for(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(captured)


@pytest.mark.parametrize("url", [QUEUE, f"{QUEUE}?group=every&status=all", f"{QUEUE}?target_kind=post"])
def test_the_queue_costs_a_constant_number_of_queries(staff_client, url, photo_post, make_message, make_comment):
    populate(1, photo_post, make_message, make_comment)
    small = queries_for(staff_client, url)
    populate(3, photo_post, make_message, make_comment)
    assert queries_for(staff_client, url) == small == 5  # session, user, page count, page, images


def test_open_reports_are_grouped_by_target_with_their_count_and_latest_reason(
    staff_client, user, other_user, make_message
):
    message = make_message(other_user, user, UserFactory(), UserFactory())
    members = list(message.chat.users.exclude(pk=other_user.pk))
    for reporter, reason in zip(members, ["spam", "abuse", "violence"], strict=True):
        report_create(reporter=reporter, kind="message", target_id=message.pk, reason=reason)

    page = staff_client.get(QUEUE).content.decode()

    assert page.count('name="_selected_action"') == 1  # one row for the target
    assert f"target_id={message.pk}" in page and ">3</a>" in page  # links to its 3 reports
    assert "насилие" in page  # the latest reason
    assert "в чате «чат»" in page and message.text in page  # the message with its chat
    every = staff_client.get(f"{QUEUE}?target_kind=message&target_id={message.pk}&status=all&group=every")
    assert every.content.decode().count('name="_selected_action"') == 3


def test_the_queue_shows_post_thumbnails_from_the_snapshot_after_the_post_is_gone(
    staff_client, user, other_user, photo_post
):
    post = photo_post(other_user, images=2)
    report_create(reporter=user, kind="post", target_id=post.pk, reason="nudity")
    Post.objects.filter(pk=post.pk).delete()
    page = staff_client.get(QUEUE).content.decode()
    thumbs = [image.thumb.name for image in ReportImage.objects.all()]
    assert len(thumbs) == 2 and all(name in page for name in thumbs)
    assert "пост с фото" in page
    report = Report.objects.get()
    assert staff_client.get(f"{QUEUE}{report.pk}/change/").status_code == 200


def test_filters_by_status(staff_client, staff, user, other_user):
    report = report_create(reporter=user, kind="user", target_id=other_user.pk, reason="spam")
    act(staff_client, "dismiss", report)
    assert 'name="_selected_action"' not in staff_client.get(QUEUE).content.decode()
    dismissed = staff_client.get(f"{QUEUE}?status=dismissed").content.decode()
    assert dismissed.count('name="_selected_action"') == 1


def test_deleting_a_message_goes_through_the_service_and_closes_every_open_report(
    staff_client, staff, user, other_user, make_message, django_capture_on_commit_callbacks
):
    third = UserFactory()
    message = make_message(other_user, user, third)
    reports = [
        report_create(reporter=reporter, kind="message", target_id=message.pk, reason="abuse")
        for reporter in (user, third)
    ]
    unrelated = report_create(reporter=user, kind="user", target_id=other_user.pk, reason="spam")
    chat = message.chat

    with django_capture_on_commit_callbacks(execute=False) as sent:
        # The queue's row of the target is its newest report.
        response = act(staff_client, "delete_content", reports[-1])

    assert "Закрыто жалоб: 2" in response.content.decode()
    assert not Message.objects.filter(pk=message.pk).exists()
    chat.refresh_from_db()
    assert chat.messages_count == 0  # the service's counter moved
    assert sent  # message.deleted goes out after commit (the browser test sees it arrive)
    closed = Report.objects.filter(pk__in=[r.pk for r in reports])
    assert set(closed.values_list("status", flat=True)) == {"resolved"}
    assert all(r.closed_by_id == staff.pk and r.closed_at for r in closed)
    assert Report.objects.get(pk=unrelated.pk).status == "open"
    entry = LogEntry.objects.get(object_id=str(reports[-1].pk))
    assert entry.action_flag == CHANGE and entry.user_id == staff.pk
    assert "закрыто открытых жалоб на цель: 2" in entry.change_message


def test_deleting_a_post_keeps_the_reports_copies(
    staff_client, user, other_user, photo_post, bucket_keys, django_capture_on_commit_callbacks
):
    post = photo_post(other_user, images=1)
    report = report_create(reporter=user, kind="post", target_id=post.pk, reason="nudity")
    copies = {image.file.name for image in report.images.all()}
    originals = {image.file.name for image in post.images.all()}

    with django_capture_on_commit_callbacks(execute=True):
        act(staff_client, "delete_content", report)

    assert not Post.objects.filter(pk=post.pk).exists()
    keys = bucket_keys()
    assert copies <= keys and not originals & keys
    assert Report.objects.get().status == "resolved"


def test_deleting_a_comment_moves_the_posts_counter(staff_client, user, other_user, make_comment):
    comment = make_comment(other_user)
    report = report_create(reporter=user, kind="comment", target_id=comment.pk, reason="abuse")
    act(staff_client, "delete_content", report)
    assert not Comment.objects.filter(pk=comment.pk).exists()
    assert Post.objects.get(pk=comment.post_id).comments_count == 0
    assert Report.objects.get().status == "resolved"


def test_content_already_gone_still_resolves_and_a_user_report_has_no_content(
    staff_client, user, other_user, make_message
):
    message = make_message(other_user, user)
    gone = report_create(reporter=user, kind="message", target_id=message.pk, reason="spam")
    Message.objects.filter(pk=message.pk).delete()
    about_user = report_create(reporter=user, kind="user", target_id=other_user.pk, reason="spam")

    page = act(staff_client, "delete_content", gone, about_user).content.decode()

    assert Report.objects.get(pk=gone.pk).status == "resolved"
    assert Report.objects.get(pk=about_user.pk).status == "open"
    assert "нет контента для удаления" in page


def test_deactivating_the_author_ends_their_sessions_and_closes_the_reports(
    staff_client, staff, client_for, user, other_user, make_comment
):
    author_api = client_for(other_user)
    comment = make_comment(other_user)
    reports = [
        report_create(reporter=user, kind="comment", target_id=comment.pk, reason="abuse"),
        report_create(reporter=UserFactory(), kind="comment", target_id=comment.pk, reason="spam"),
    ]

    act(staff_client, "deactivate_author", reports[1])

    other_user.refresh_from_db()
    assert other_user.is_active is False
    assert author_api.get("/api/auth/current_user").status_code == 401
    assert set(Report.objects.values_list("status", flat=True)) == {"resolved"}
    assert LogEntry.objects.filter(object_id=str(reports[1].pk), user_id=staff.pk).exists()


def test_dismiss_closes_every_open_report_of_the_target_and_is_logged(staff_client, staff, user, other_user):
    reports = [
        report_create(reporter=reporter, kind="user", target_id=other_user.pk, reason="spam")
        for reporter in (user, UserFactory(), UserFactory())
    ]
    # From the list of every report of the target (the count's link), any one of them.
    staff_client.post(
        f"{QUEUE}?target_kind=user&target_id={other_user.pk}&status=all&group=every",
        {"action": "dismiss", "_selected_action": [str(reports[0].pk)]},
    )
    assert set(Report.objects.values_list("status", flat=True)) == {"dismissed"}
    other_user.refresh_from_db()
    assert other_user.is_active is True
    assert LogEntry.objects.get(object_id=str(reports[0].pk)).user_id == staff.pk


def test_a_view_only_moderator_cannot_act(client, user, other_user, make_message):
    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_report"))
    client.force_login(viewer)
    message = make_message(other_user, user)
    report = report_create(reporter=user, kind="message", target_id=message.pk, reason="abuse")
    assert client.get(QUEUE).status_code == 200

    for action in ("delete_content", "deactivate_author", "dismiss"):
        act(client, action, report)

    assert Message.objects.filter(pk=message.pk).exists()
    other_user.refresh_from_db()
    assert other_user.is_active is True
    assert Report.objects.get().status == "open"
    assert not LogEntry.objects.exists()


def test_acting_on_content_needs_the_permission_on_that_content_too(client, user, other_user, make_message):
    moderator = UserFactory(is_staff=True)
    moderator.user_permissions.add(*Permission.objects.filter(codename__in=["view_report", "change_report"]))
    client.force_login(moderator)
    message = make_message(other_user, user)
    report = report_create(reporter=user, kind="message", target_id=message.pk, reason="abuse")

    page = act(client, "delete_content", report).content.decode()
    assert "chats.delete_message" in page and "Контент удалён" not in page
    assert Message.objects.filter(pk=message.pk).exists()
    act(client, "deactivate_author", report)
    other_user.refresh_from_db()
    assert other_user.is_active is True
    assert Report.objects.get().status == "open"

    act(client, "dismiss", report)  # needs nothing beyond changing reports
    assert Report.objects.get().status == "dismissed"


def test_non_staff_never_see_the_queue(client, user):
    client.force_login(user)
    assert client.get(QUEUE).status_code == 302


def test_reports_cannot_be_added_and_deleting_one_deletes_its_copies(
    staff_client, user, other_user, photo_post, bucket_keys, django_capture_on_commit_callbacks
):
    assert staff_client.get(f"{QUEUE}add/").status_code == 403
    post = photo_post(other_user, images=1)
    report = report_create(reporter=user, kind="post", target_id=post.pk, reason="spam")
    copies = {name for row in report.images.values_list("file", "thumb") for name in row}

    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(f"{QUEUE}{report.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not Report.objects.exists()
    assert not copies & bucket_keys()
