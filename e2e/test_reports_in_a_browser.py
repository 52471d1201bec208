"""A member reports a message over the API; a staff member deletes it from the reports queue in a
real (headless) Chromium, against the production shape with DEBUG off; the member's open user
socket hears `message.deleted` (the chats service's event, sent after the admin's commit)."""

import asyncio
import json

import pytest
import requests
import websockets
from playwright.sync_api import sync_playwright

from accounts.services import session_start
from accounts.tests.factories import PASSWORD, UserFactory
from chats.models import Message
from chats.services import chat_create, message_send
from e2e.test_admin_in_a_browser import CHROMIUM, CHROMIUM_ARGS
from moderation.models import Report
from scripts.serve import Shape, free_port
from testsupport import live

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


async def _frame_of_type(socket, kind: str, timeout: float = 10.0) -> dict:
    """The first frame of this type (others, such as presence, may come first)."""

    async def wait() -> dict:
        while True:
            frame = json.loads(await socket.recv())
            if frame.get("type") == kind:
                return frame

    return await asyncio.wait_for(wait(), timeout)


def test_staff_deletes_a_reported_message_from_the_queue_and_the_members_socket_hears_it():
    staff = UserFactory(is_staff=True, is_superuser=True)
    member, author = UserFactory(), UserFactory()
    chat, _ = chat_create(creator=author, user_ids=[member.pk], title="e2e-жалобы")
    message = message_send(chat=chat, author=author, text="сообщение, на которое жалуются")
    access = session_start(user=member).access

    with Shape(free_port(), env=live.server_env(DEBUG=0, STATIC_MANIFEST=1), workers=1) as shape:
        base = f"http://127.0.0.1:{shape.port}"
        loop = asyncio.new_event_loop()
        socket = loop.run_until_complete(
            websockets.connect(f"ws://127.0.0.1:{shape.port}/api/ws?token={access}", open_timeout=10)
        )
        try:
            assert loop.run_until_complete(_frame_of_type(socket, "ready"))["user_id"] == str(member.pk)
            reported = requests.post(
                f"{base}/api/reports",
                json={"target": "message", "id": message.pk, "reason": "abuse", "text": "оскорбление"},
                headers={"Authorization": f"Bearer {access}"},
                timeout=10,
            )
            assert reported.status_code == 201, reported.text
            report_id = reported.json()["id"]

            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
                page = browser.new_page()
                page.goto(f"{base}/admin/login/")
                page.fill("#id_username", staff.email)
                page.fill("#id_password", PASSWORD)
                page.click("input[type=submit]")
                page.wait_for_url(f"{base}/admin/")

                page.goto(f"{base}/admin/moderation/report/")
                row = page.locator("#result_list tbody tr")
                assert row.count() == 1
                assert "сообщение, на которое жалуются" in row.inner_text()
                assert "e2e-жалобы" in row.inner_text()  # the message is shown with its chat
                page.check(f"input[name=_selected_action][value='{report_id}']")
                page.select_option("select[name=action]", "delete_content")
                page.click("button[name=index]")
                page.wait_for_selector("ul.messagelist li.success")
                assert "Закрыто жалоб: 1" in page.inner_text("ul.messagelist")
                browser.close()

            deleted = loop.run_until_complete(_frame_of_type(socket, "message.deleted"))
            assert deleted == {"type": "message.deleted", "chat_id": str(chat.pk), "message_id": message.pk}
        finally:
            loop.run_until_complete(socket.close())
            loop.close()

    assert not Message.objects.filter(pk=message.pk).exists()
    closed = Report.objects.get(pk=report_id)
    assert (closed.status, closed.closed_by_id, closed.snapshot_text) == (
        "resolved",
        staff.pk,
        "сообщение, на которое жалуются",
    )
