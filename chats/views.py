"""HTTP surface of the chats app: parse, call one service or selector, render."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import SessionCheckInView
from accounts.serializers import EmbeddedUserSerializer
from chats import selectors, services
from chats.serializers import (
    ChatCreateInput,
    ChatCreateJSON,
    ChatDetailOutput,
    ChatListOutput,
    ChatMembersAddInput,
    ChatOutput,
    ChatUpdateInput,
    MessageEditInput,
    MessageOutput,
    MessageSendForm,
    MessageSendInput,
    MessagesQuery,
    ReadInput,
    ReadOutput,
    UserChatOutput,
    chat_list_items,
)
from chats.throttles import MessageFloodThrottle
from social.exceptions import Forbidden, NotFound, acting_as_check
from social.images import request_images
from social.pagination import next_link, page_request
from social.renderers import json_bytes, json_response
from social.schema import error_responses
from social.throttles import per_user

ERRORS = error_responses({403: "Не участник чата / действие от имени другого пользователя", 404: "Не найдено"})


class ChatCreateView(APIView):
    throttle_classes = [per_user("chat_create")]

    @extend_schema(
        request={"application/json": ChatCreateJSON},
        responses={
            201: ChatOutput,
            200: OpenApiResponse(ChatOutput, description="The untitled two-person chat already existed."),
            400: OpenApiResponse(description="Ошибки полей"),
            **ERRORS,
            **error_responses({403: "Пользователь принимает приглашения в чаты только от друзей"}),
        },
        description="JSON. A multipart form with the same fields plus an `avatar` image is accepted too. "
        'A member whose `chat_invites` is "friends" must be a friend of every other member (403).',
    )
    def post(self, request):
        data = ChatCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        chat, created = services.chat_create(
            creator=request.user,
            user_ids=data.validated_data["users"],
            title=data.validated_data.get("title") or None,
            avatar=data.validated_data.get("avatar"),
        )
        chat = selectors.chat_with_users(chat_id=chat.pk)
        body = ChatOutput(chat, context={"request": request}).data
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class ChatMessagesView(SessionCheckInView, APIView):
    # A Bearer request's user check runs in the membership's statement (as the chat list's).
    @extend_schema(
        parameters=[
            OpenApiParameter("limit", int, description="1–100, default 50"),
            OpenApiParameter("before", int, description="Message id: the page of older messages (offset ignored)"),
            OpenApiParameter(
                "after",
                int,
                description="Message id: the messages after it, oldest first (offset and before ignored); "
                'the next page\'s URL is in the `Link: <…>; rel="next"` header',
            ),
        ],
        responses={200: MessageOutput(many=True), 400: OpenApiResponse(description="Ошибки параметров"), **ERRORS},
    )
    def get(self, request, chat_id, offset):
        chat = self.session_read(
            request,
            checked=lambda claims: selectors.chat_for_member_of_session(chat_id, claims=claims),
            unchecked=lambda user: selectors.chat_for_member(chat_id, user),
            before=(NotFound, Forbidden),
        )
        query = MessagesQuery(data={**request.query_params.dict(), "offset": offset})
        query.is_valid(raise_exception=True)
        page = selectors.chat_messages_page(chat=chat, **query.validated_data)
        body = MessageOutput(page.items, many=True, context={"request": request}).data
        headers = {}
        if "after" in query.validated_data and len(page.items) == query.validated_data["limit"]:
            headers = next_link_after(request, page.items[-1].pk)
        return Response(body, headers=headers)


def next_link_after(request, last_id: int) -> dict:
    params = request.GET.copy()
    params["after"] = str(last_id)
    url = request.build_absolute_uri(request.path + "?" + params.urlencode())
    return {"Link": f'<{url}>; rel="next"'}


class UserChatsView(SessionCheckInView, APIView):
    # The chat list's statement (every member embedded) for both callers, as the chat list: a
    # Bearer request's user check in it, a cookie's DRF's own before it; the same bytes.
    @extend_schema(
        responses={200: UserChatOutput(many=True), **ERRORS},
        description="The caller's chats, most recent activity first; `users` lists every member.",
    )
    def get(self, request, user_id):
        def checked(claims):
            acting_as_check(user_id=user_id, caller=selectors.ClaimedUser(claims.user_id))
            viewer, chats = selectors.user_chats_values_of_session(claims=claims)
            return viewer, (None if viewer is None else chat_list_items(chats, request))

        def unchecked(user):
            acting_as_check(user_id=user_id, caller=user)
            return chat_list_items(selectors.user_chats_values(user=user), request)

        body = self.session_read(request, checked=checked, unchecked=unchecked, before=(Forbidden,))
        return json_response(json_bytes(body))


class ChatListView(SessionCheckInView, APIView):
    # A Bearer request's user check runs in the list's statement (as the feed's).
    @extend_schema(
        parameters=[
            OpenApiParameter("limit", OpenApiTypes.INT, description="1–100, по умолчанию 20"),
            OpenApiParameter("cursor", OpenApiTypes.STR, description="из заголовка Link предыдущей страницы"),
        ],
        responses={200: ChatListOutput(many=True), 400: OpenApiResponse(description="Ошибки параметров")},
        description="The caller's chats, most recent activity first, with the last message and the "
        'unread count. Paginated: the next page\'s URL is in the `Link: <…>; rel="next"` header.',
    )
    def get(self, request):
        def wanted():
            return page_request(request.query_params, key_size=len(selectors.CHAT_LIST_KEY))

        chats = self.session_read(
            request,
            checked=lambda claims: selectors.chat_list_values_of_session(claims=claims, page=wanted()),
            unchecked=lambda user: selectors.chat_list_values(user=user, page=wanted()),
        )
        # Bare rows and plain dicts, encoded once (issue #26): ChatListOutput's objects.
        body = json_bytes(chat_list_items(chats.items, request))
        return json_response(body, headers=next_link(request, chats.next_cursor))


class ChatMessageSendView(APIView):
    throttle_classes = [MessageFloodThrottle]

    @extend_schema(
        # One media type per operation (a generated client cannot take two): multipart, where
        # the photos go; the JSON body of the same text fields is taken too (the description).
        request={"multipart/form-data": MessageSendForm},
        description="Multipart with 0–4 photos as repeated `images` fields (JPEG/PNG/WebP/GIF, each ≤ 10 MB, "
        "checked and re-encoded as post images); the text may be empty only when there are images. "
        "A JSON body `{message, reply_to?, client_ref?}` (no photos) is accepted too.",
        responses={
            201: MessageOutput,
            200: OpenApiResponse(MessageOutput, description="A repeated client_ref: the message stored before."),
            400: OpenApiResponse(description="Ошибки полей"),
            **ERRORS,
        },
    )
    def post(self, request, chat_id):
        chat = selectors.chat_for_member(chat_id, request.user)
        data = MessageSendInput(data=request.data)
        data.is_valid(raise_exception=True)
        message, created = services.message_send_once(
            chat=chat,
            author=request.user,
            text=data.validated_data["message"],
            client_ref=data.validated_data.get("client_ref"),
            reply_to=data.validated_data.get("reply_to"),
            images=request_images(request),
        )
        body = MessageOutput(message, context={"request": request}).data
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class ChatReadView(APIView):
    @extend_schema(
        request={"application/json": ReadInput},
        responses={200: ReadOutput, 400: OpenApiResponse(description="Ошибки полей"), **ERRORS},
    )
    def post(self, request, chat_id):
        chat = selectors.chat_for_member(chat_id, request.user)
        data = ReadInput(data=request.data)
        data.is_valid(raise_exception=True)
        marker = services.chat_read(chat=chat, reader=request.user, message_id=data.validated_data["message_id"])
        unread = selectors.chat_unread_count(chat_id=chat.pk, user_id=request.user.pk)
        return Response(ReadOutput({"last_read_message_id": marker, "unread_count": unread}).data)


class MessageView(APIView):
    @extend_schema(
        request={"application/json": MessageEditInput},
        responses={200: MessageOutput, 400: OpenApiResponse(description="Ошибки полей"), **ERRORS},
        description="Edit one's own message (the author only).",
    )
    def patch(self, request, message_id):
        message = selectors.message_for_member(message_id, request.user)
        data = MessageEditInput(data=request.data)
        data.is_valid(raise_exception=True)
        message = services.message_edit(message=message, editor=request.user, text=data.validated_data["message"])
        return Response(MessageOutput(message, context={"request": request}).data)

    @extend_schema(
        responses={204: None, **ERRORS}, description="Delete a message: its author, the chat's owner or staff."
    )
    def delete(self, request, message_id):
        message = selectors.message_for_member(message_id, request.user)
        services.message_delete_check(message=message, actor=request.user)
        services.message_delete(message=message)
        return Response(status=status.HTTP_204_NO_CONTENT)


PAGE_PARAMETERS = [
    OpenApiParameter("limit", OpenApiTypes.INT, description="1–100, по умолчанию 20"),
    OpenApiParameter("cursor", OpenApiTypes.STR, description="из заголовка Link предыдущей страницы"),
]


def _chat_body(request, chat) -> dict:
    """The caller's chat object of `chat` (as the chat list shows it)."""
    return ChatListOutput(selectors.chat_detail(chat=chat, user=request.user), context={"request": request}).data


class ChatDetailView(APIView):
    @extend_schema(responses={200: ChatDetailOutput, **ERRORS})
    def get(self, request, chat_id):
        chat = selectors.chat_for_member(chat_id, request.user)
        detail = selectors.chat_detail(chat=chat, user=request.user)
        return Response(ChatDetailOutput(detail, context={"request": request}).data)

    @extend_schema(
        # One media type per operation, as for the send: multipart, where the avatar goes.
        request={"multipart/form-data": ChatUpdateInput},
        responses={200: ChatListOutput, 400: OpenApiResponse(description="Ошибки полей / личный чат"), **ERRORS},
        description="The owner only. Multipart with any of `title` and `avatar` (an image, stored "
        'center-cropped to a square of at most 256 px); a JSON body `{"title"}` is accepted too. '
        "A direct chat cannot be changed (400).",
    )
    def patch(self, request, chat_id):
        chat = selectors.chat_for_member(chat_id, request.user)
        data = ChatUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        chat = services.chat_update(
            chat=chat,
            actor=request.user,
            title=data.validated_data.get("title"),
            avatar=data.validated_data.get("avatar"),
        )
        return Response(_chat_body(request, chat))


class ChatMembersView(APIView):
    # Only adding is limited (pulling strangers into chats); reading the page is not.
    def get_throttles(self):
        return [per_user("chat_member_add")()] if self.request.method == "POST" else []

    @extend_schema(
        parameters=PAGE_PARAMETERS,
        responses={
            200: EmbeddedUserSerializer(many=True),
            400: OpenApiResponse(description="Ошибки параметров"),
            **ERRORS,
        },
        description="Members in joining order. "
        'Paginated: the next page\'s URL is in the `Link: <…>; rel="next"` header.',
    )
    def get(self, request, chat_id):
        chat = selectors.chat_for_member(chat_id, request.user)
        page = page_request(request.query_params, key_size=len(selectors.MEMBERS_PAGE_KEY))
        members = selectors.chat_members_page(chat=chat, page=page)
        body = EmbeddedUserSerializer(members.items, many=True, context={"request": request}).data
        return Response(body, headers=next_link(request, members.next_cursor))

    @extend_schema(
        request={"application/json": ChatMembersAddInput},
        responses={200: ChatListOutput, 400: OpenApiResponse(description="Ошибки полей / личный чат"), **ERRORS},
        description="The owner only: put these users in the chat (members already in it are ignored; "
        "at most 500 members in all).",
    )
    def post(self, request, chat_id):
        chat = selectors.chat_for_member(chat_id, request.user)
        data = ChatMembersAddInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.chat_members_add(chat=chat, actor=request.user, user_ids=data.validated_data["users"])
        return Response(_chat_body(request, chat))


class ChatMemberView(APIView):
    @extend_schema(
        responses={204: None, **ERRORS},
        description="Leave the chat (your own id) or, as its owner, remove a member. The owner leaving passes "
        "ownership to the longest-standing member; the last member leaving deletes the chat.",
    )
    def delete(self, request, chat_id, user_id):
        chat = selectors.chat_for_member(chat_id, request.user)
        member = selectors.chat_member_user(chat=chat, user_id=user_id)
        services.chat_member_remove_check(chat=chat, actor=request.user, user=member)
        services.chat_member_remove(chat=chat, user=member)
        return Response(status=status.HTTP_204_NO_CONTENT)
