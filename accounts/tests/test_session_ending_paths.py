"""Every way a user is deactivated, deleted or given a new password ends their sessions: an
open socket closes with 4401, and tokens issued before stay refused, even after the user is
active again (issue #19, item 2)."""

import io

import pytest
from channels.db import database_sync_to_async
from django.core.management import call_command
from django.test import Client
from rest_framework.test import APIClient

from accounts import services
from accounts.management.commands.changepassword import Command as ChangePassword
from accounts.models import User
from accounts.tests.factories import UserFactory
from chats import services as chats_services
from chats.consumers import CLOSE_SESSION_ENDED
from chats.tests.support import open_socket

pytestmark = [pytest.mark.django_db(transaction=True)]

NEW_PASSWORD = "another-Secret-42"


@pytest.fixture
def staff_client(db) -> Client:
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def member(db):
    """(chat, user): a user with a chat they may open a socket in."""
    user, friend = UserFactory.create_batch(2)
    chat, _ = chats_services.chat_create(creator=user, user_ids=[friend.pk], title="двое")
    return chat, user


async def closed_with(socket) -> int:
    output = await socket.receive_output(timeout=3)
    assert output["type"] == "websocket.close", output
    return output.get("code", 1000)


def api_status(tokens) -> int:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens.access}")
    return client.get("/api/auth/current_user").status_code


def refresh_status(tokens) -> int:
    return APIClient().post("/api/auth/token/refresh", {"refresh": tokens.refresh}, format="json").status_code


def change_form(user: User, **changes) -> dict:
    """The admin's change form of `user` as the browser posts it, with `changes`."""
    data = {
        "email": user.email,
        "username": user.username,
        "is_active": "on" if user.is_active else "",
        "date_joined_0": "",
        "_save": "Save",
        **changes,
    }
    return {name: value for name, value in data.items() if value != ""}


def admin_post(client: Client, path: str, data: dict) -> int:
    return client.post(path, data).status_code


async def assert_old_tokens_refused_after_reactivation(user, tokens):
    stored = await database_sync_to_async(User.objects.get)(pk=user.pk)
    await database_sync_to_async(services.user_reactivate)(user=stored)
    assert await database_sync_to_async(api_status)(tokens) == 401
    assert await database_sync_to_async(refresh_status)(tokens) == 401


# --- deactivation ---------------------------------------------------------------------------------
async def test_unticking_active_in_the_admin_form_closes_sockets_and_old_tokens_stay_refused(staff_client, member):
    chat, user = member
    socket = await open_socket(chat, user)

    status = await database_sync_to_async(admin_post)(
        staff_client, f"/admin/accounts/user/{user.pk}/change/", change_form(user, is_active="")
    )

    assert status == 302
    assert await closed_with(socket) == CLOSE_SESSION_ENDED
    # Ticking "active" again in the same form brings none of the old tokens back.
    reactivated = await database_sync_to_async(User.objects.get)(pk=user.pk)
    assert reactivated.is_active is False
    status = await database_sync_to_async(admin_post)(
        staff_client, f"/admin/accounts/user/{user.pk}/change/", change_form(reactivated, is_active="on")
    )
    assert status == 302
    assert (await database_sync_to_async(User.objects.get)(pk=user.pk)).is_active is True
    assert await database_sync_to_async(api_status)(socket.tokens) == 401
    assert await database_sync_to_async(refresh_status)(socket.tokens) == 401


async def test_the_deactivate_action_closes_sockets_and_old_tokens_stay_refused(staff_client, member):
    chat, user = member
    socket = await open_socket(chat, user)

    status = await database_sync_to_async(admin_post)(
        staff_client, "/admin/accounts/user/", {"action": "deactivate_users", "_selected_action": [str(user.pk)]}
    )

    assert status == 302
    assert await closed_with(socket) == CLOSE_SESSION_ENDED
    await assert_old_tokens_refused_after_reactivation(user, socket.tokens)


async def test_an_admin_edit_of_other_fields_leaves_sessions_alone(staff_client, member):
    chat, user = member
    socket = await open_socket(chat, user)

    status = await database_sync_to_async(admin_post)(
        staff_client, f"/admin/accounts/user/{user.pk}/change/", change_form(user, username="renamed")
    )

    assert status == 302
    assert await socket.receive_nothing(timeout=0.5)
    assert await database_sync_to_async(api_status)(socket.tokens) == 200
    await socket.disconnect()


# --- deletion -------------------------------------------------------------------------------------
async def test_deleting_a_user_on_the_admin_page_closes_their_sockets(staff_client, member):
    chat, user = member
    socket = await open_socket(chat, user)

    status = await database_sync_to_async(admin_post)(
        staff_client, f"/admin/accounts/user/{user.pk}/delete/", {"post": "yes"}
    )

    assert status == 302
    assert await closed_with(socket) == CLOSE_SESSION_ENDED
    assert not await database_sync_to_async(User.objects.filter(pk=user.pk).exists)()
    assert await database_sync_to_async(api_status)(socket.tokens) == 401


async def test_deleting_users_with_the_bulk_action_closes_their_sockets(staff_client, member):
    chat, user = member
    socket = await open_socket(chat, user)

    status = await database_sync_to_async(admin_post)(
        staff_client,
        "/admin/accounts/user/",
        {"action": "delete_selected", "_selected_action": [str(user.pk)], "post": "yes"},
    )

    assert status == 302
    assert await closed_with(socket) == CLOSE_SESSION_ENDED
    assert not await database_sync_to_async(User.objects.filter(pk=user.pk).exists)()


# --- a new password -------------------------------------------------------------------------------
async def test_a_password_reset_in_the_admin_ends_the_users_sessions(staff_client, member):
    chat, user = member
    socket = await open_socket(chat, user)

    status = await database_sync_to_async(admin_post)(
        staff_client,
        f"/admin/accounts/user/{user.pk}/password/",
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "set_usable_password": "true"},
    )

    assert status == 302
    assert await closed_with(socket) == CLOSE_SESSION_ENDED
    assert await database_sync_to_async(api_status)(socket.tokens) == 401
    assert await database_sync_to_async(refresh_status)(socket.tokens) == 401
    login = await database_sync_to_async(APIClient().post)(
        "/api/auth/login", {"email": user.email, "password": NEW_PASSWORD}, format="json"
    )
    assert login.status_code == 200


async def test_the_changepassword_command_ends_the_users_sessions(member):
    chat, user = member
    socket = await open_socket(chat, user)
    command = ChangePassword()
    command._get_pass = lambda prompt=None: NEW_PASSWORD  # Django's own prompt, not our code

    await database_sync_to_async(call_command)(command, user.email, stdout=io.StringIO())

    assert await closed_with(socket) == CLOSE_SESSION_ENDED
    assert await database_sync_to_async(api_status)(socket.tokens) == 401
    assert (await database_sync_to_async(User.objects.get)(pk=user.pk)).check_password(NEW_PASSWORD)


async def test_the_password_service_ends_sessions_for_any_future_caller(member):
    chat, user = member
    socket = await open_socket(chat, user)

    await database_sync_to_async(services.user_password_set)(user=user, password=NEW_PASSWORD)

    assert await closed_with(socket) == CLOSE_SESSION_ENDED
    assert await database_sync_to_async(api_status)(socket.tokens) == 401


def test_the_changepassword_command_is_ours():
    from django.core.management import get_commands

    assert get_commands()["changepassword"] == "accounts"
