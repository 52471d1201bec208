"""A staff member deactivates a user in the admin, in a real (headless) Chromium, against the
production shape with DEBUG off; the user's API session and open chat socket end at once."""

import asyncio

import pytest
import requests
import websockets
from playwright.sync_api import sync_playwright

from accounts.services import session_start
from accounts.tests.factories import PASSWORD, UserFactory
from chats.services import chat_create
from scripts.serve import Shape, free_port
from testsupport import live

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


async def _open_socket(url: str):
    return await websockets.connect(url, open_timeout=10)


async def _close_code(socket, timeout: float = 10.0) -> int:
    try:
        await asyncio.wait_for(socket.recv(), timeout)
    except websockets.ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else -1
    return 0


def test_staff_deactivates_a_user_and_the_users_session_and_socket_end():
    staff = UserFactory(is_staff=True, is_superuser=True)
    member = UserFactory()
    friend = UserFactory()
    chat, _ = chat_create(creator=member, user_ids=[friend.pk], title="e2e")
    access = session_start(user=member).access

    # The production cookie flags (COOKIE_SECURE on with DEBUG off), as `make serve` runs: a
    # browser keeps Secure cookies from http://127.0.0.1.
    with Shape(free_port(), env=live.server_env(DEBUG=0, STATIC_MANIFEST=1), workers=1) as shape:
        base = f"http://127.0.0.1:{shape.port}"
        headers = {"Authorization": f"Bearer {access}"}
        assert requests.get(f"{base}/api/auth/current_user", headers=headers, timeout=10).status_code == 200

        loop = asyncio.new_event_loop()
        socket = loop.run_until_complete(
            _open_socket(f"ws://127.0.0.1:{shape.port}/api/chats/ws/{chat.id}/{member.id}?token={access}")
        )
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
                page = browser.new_page()
                styles = []
                page.on("response", lambda r: styles.append(r.status) if "/static/admin/css/base" in r.url else None)
                page.goto(f"{base}/admin/login/")
                page.fill("#id_username", staff.email)
                page.fill("#id_password", PASSWORD)
                page.click("input[type=submit]")
                page.wait_for_url(f"{base}/admin/")
                assert styles and all(status == 200 for status in styles)  # styled with DEBUG off

                page.goto(f"{base}/admin/accounts/user/?q={member.username}")
                page.check(f"input[name=_selected_action][value='{member.id}']")
                page.select_option("select[name=action]", "deactivate_users")
                page.click("button[name=index]")
                page.wait_for_selector("ul.messagelist li.success")
                assert "Деактивировано пользователей: 1" in page.inner_text("ul.messagelist")
                browser.close()

            assert loop.run_until_complete(_close_code(socket)) == 4401
        finally:
            loop.run_until_complete(socket.close())
            loop.close()
        refused = requests.get(f"{base}/api/auth/current_user", headers=headers, timeout=10)
        assert refused.status_code == 401
        assert refused.json() == {"detail": "Не удалось подтвердить учетные данные"}
