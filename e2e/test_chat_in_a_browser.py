"""A web client's chat in a real (headless) Chromium: a page served by this backend signs in
with cookies only and talks on a chat socket, against the production shape on a non-default
port (the Origin then carries a port, which the socket's Origin check must accept)."""

import pytest
from playwright.sync_api import sync_playwright

from accounts.tests.factories import PASSWORD, UserFactory
from chats.models import Message
from chats.services import chat_create
from e2e.test_admin_in_a_browser import CHROMIUM, CHROMIUM_ARGS
from scripts.serve import Shape, free_port
from testsupport import live

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

# Runs in the page: what the site's own script does. No token ever reaches JavaScript: the
# login answer sets HttpOnly cookies, and the socket is authenticated by them alone.
CHAT_SCRIPT = """
async ({email, password, chatId, userId, text}) => {
  const csrf = await (await fetch("/api/auth/csrf")).json();
  const login = await fetch("/api/auth/login", {
    method: "POST",
    headers: {"Content-Type": "application/json", "X-CSRFToken": csrf.csrfToken},
    body: JSON.stringify({email, password}),
  });
  const loginBody = await login.json();
  const socket = new WebSocket(`ws://${location.host}/api/chats/ws/${chatId}/${userId}`);
  const frame = await new Promise((resolve) => {
    socket.onopen = () => socket.send(JSON.stringify({message: text}));
    socket.onmessage = (event) => resolve(JSON.parse(event.data));
    socket.onclose = (event) => resolve({closed: event.code});
    setTimeout(() => resolve({timeout: true}), 10000);
  });
  socket.close();
  return {loginStatus: login.status, loginBody, frame, cookiesVisible: document.cookie.includes("access_token")};
}
"""


def test_a_page_of_this_site_chats_over_a_cookie_authenticated_socket_on_a_non_default_port():
    member, friend = UserFactory(), UserFactory()
    chat, _ = chat_create(creator=member, user_ids=[friend.pk], title="e2e")
    port = free_port()
    assert port not in (80, 443)

    with Shape(port, env=live.server_env(COOKIE_SECURE=0, DEBUG=0, STATIC_MANIFEST=1), workers=1):
        base = f"http://127.0.0.1:{port}"
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page()
            assert page.goto(f"{base}/api/docs/").status == 200
            result = page.evaluate(
                CHAT_SCRIPT,
                {
                    "email": member.email,
                    "password": PASSWORD,
                    "chatId": str(chat.id),
                    "userId": str(member.id),
                    "text": "привет из браузера",
                },
            )
            browser.close()

    assert result["loginStatus"] == 200, result
    assert "access" not in result["loginBody"] and not result["cookiesVisible"]
    frame = result["frame"]
    assert frame.get("message") == "привет из браузера", frame
    assert frame["user"]["id"] == str(member.id)
    assert Message.objects.filter(chat=chat, user=member, text="привет из браузера").exists()
