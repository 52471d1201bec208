"""The caller's sessions: listed, ended one by one or all but this one (EXTENSIONS.md §6)."""

import pytest
from channels.db import database_sync_to_async
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import UserSession
from accounts.services import session_start
from accounts.tests.factories import PASSWORD, UserFactory
from chats import services as chats_services
from chats.consumers import CLOSE_SESSION_ENDED
from chats.tests.support import open_socket

pytestmark = pytest.mark.django_db
PHONE = "SocialApp/3.1 (Android 15)"


def bearer(tokens) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens.access}")
    client.tokens = tokens
    return client


def me_status(tokens) -> int:
    return bearer(tokens).get("/api/auth/current_user").status_code


def refresh_status(tokens) -> int:
    return APIClient().post("/api/auth/token/refresh", {"refresh": tokens.refresh}, format="json").status_code


def sid(tokens) -> str:
    return AccessToken(tokens.access)["sid"]


def test_sessions_list_shows_each_login_with_its_client_and_marks_the_current_one(settings, user):
    settings.NUM_PROXIES = 1
    phone = APIClient(HTTP_USER_AGENT=PHONE, HTTP_X_FORWARDED_FOR="203.0.113.7", REMOTE_ADDR="10.0.0.1")
    answer = phone.post("/api/auth/token", {"email": user.email, "password": PASSWORD}, format="json")
    assert answer.status_code == 200
    laptop = bearer(session_start(user=user))

    response = laptop.get("/api/auth/sessions")

    assert response.status_code == 200
    sessions = {session["id"]: session for session in response.json()}
    phone_sid = AccessToken(answer.json()["access"])["sid"]
    assert set(sessions) == {sid(laptop.tokens), phone_sid}
    phone_session = sessions[phone_sid]
    assert phone_session["user_agent"] == PHONE
    assert phone_session["ip"] == "203.0.113.7"
    assert phone_session["current"] is False
    assert sessions[sid(laptop.tokens)]["current"] is True
    assert set(phone_session) == {"id", "created_at", "last_used_at", "user_agent", "ip", "current"}


def test_last_used_at_moves_at_refresh_and_not_on_other_requests(user):
    tokens = session_start(user=user)
    before = UserSession.objects.get(pk=sid(tokens)).last_used_at

    assert me_status(tokens) == 200
    assert UserSession.objects.get(pk=sid(tokens)).last_used_at == before
    assert refresh_status(tokens) == 200
    assert UserSession.objects.get(pk=sid(tokens)).last_used_at > before


def test_ending_one_session_refuses_its_tokens_and_leaves_the_others(user):
    this, other = bearer(session_start(user=user)), session_start(user=user)

    response = this.delete(f"/api/auth/sessions/{sid(other)}")

    assert response.status_code == 204
    assert me_status(other) == 401
    assert refresh_status(other) == 401
    assert me_status(this.tokens) == 200
    assert [session["id"] for session in this.get("/api/auth/sessions").json()] == [sid(this.tokens)]


def test_ending_another_users_session_is_a_404_and_ends_nothing(user):
    stranger = session_start(user=UserFactory())
    this = bearer(session_start(user=user))

    for path in (f"/api/auth/sessions/{sid(stranger)}", "/api/auth/sessions/no-such-session"):
        response = this.delete(path)
        assert response.status_code == 404
        assert response.json() == {"detail": "Сессия не найдена."}
    assert me_status(stranger) == 200


def test_ending_all_sessions_keeps_only_the_current_one(user):
    this, others = bearer(session_start(user=user)), [session_start(user=user) for _ in range(2)]

    response = this.delete("/api/auth/sessions")

    assert response.status_code == 204
    assert [me_status(tokens) for tokens in others] == [401, 401]
    assert [refresh_status(tokens) for tokens in others] == [401, 401]
    assert me_status(this.tokens) == 200
    assert refresh_status(this.tokens) == 200
    assert [session["id"] for session in this.get("/api/auth/sessions").json()] == [sid(this.tokens)]


def test_an_ended_session_is_no_longer_listed_after_logout(user):
    this, other = bearer(session_start(user=user)), session_start(user=user)
    assert bearer(other).delete("/api/auth/logout").status_code == 200
    assert [session["id"] for session in this.get("/api/auth/sessions").json()] == [sid(this.tokens)]


@pytest.mark.parametrize(
    "method, path",
    [("get", "/api/auth/sessions"), ("delete", "/api/auth/sessions"), ("delete", "/api/auth/sessions/x")],
)
def test_sessions_need_a_signed_in_user(anon_client, method, path):
    assert getattr(anon_client, method)(path).status_code == 401


# --- sockets ----------------------------------------------------------------------------------
@pytest.fixture
def member(transactional_db):
    user, friend = UserFactory.create_batch(2)
    chat, _ = chats_services.chat_create(creator=user, user_ids=[friend.pk], title="двое")
    return chat, user


async def closed_with(socket) -> int:
    output = await socket.receive_output(timeout=3)
    assert output["type"] == "websocket.close", output
    return output.get("code", 1000)


@pytest.mark.django_db(transaction=True)
async def test_ending_a_session_closes_its_sockets_with_4401_and_not_the_others(member):
    chat, user = member
    ended, kept = await open_socket(chat, user), await open_socket(chat, user)

    status = await database_sync_to_async(
        lambda: bearer(kept.tokens).delete(f"/api/auth/sessions/{sid(ended.tokens)}")
    )()

    assert status.status_code == 204
    assert await closed_with(ended) == CLOSE_SESSION_ENDED
    assert await kept.receive_nothing(timeout=0.5)
    await kept.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_password_change_closes_the_other_sessions_sockets_and_keeps_its_own(member):
    chat, user = member
    other, own = await open_socket(chat, user), await open_socket(chat, user)

    def change():
        body = {"old_password": PASSWORD, "new_password": "Novyi-Parol-2026"}
        return bearer(own.tokens).post("/api/auth/password", body, format="json").status_code

    assert await database_sync_to_async(change)() == 200
    assert await closed_with(other) == CLOSE_SESSION_ENDED
    assert await own.receive_nothing(timeout=0.5)
    await own.disconnect()
