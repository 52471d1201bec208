from collections.abc import Mapping

from django.core.exceptions import ValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import SessionCheckInView
from notifications import selectors, services
from notifications.serializers import MarkReadInput, NotificationOutput, UnreadCountOutput, notification_items
from social.pagination import next_link, page_request
from social.renderers import json_bytes, json_response

NOT_AN_OBJECT = "Ожидается JSON-объект."
UNREAD_VALUES = {"true": True, "false": False, "": False}
UNREAD_INVALID = "Ожидается true или false."


class NotificationsView(SessionCheckInView, APIView):
    # A Bearer request's user check runs in the page's statement (as the feed's).
    @extend_schema(
        parameters=[
            OpenApiParameter("unread", OpenApiTypes.BOOL, description="true: only unread ones"),
            OpenApiParameter("limit", OpenApiTypes.INT, description="1–100, по умолчанию 20"),
            OpenApiParameter("cursor", OpenApiTypes.STR, description="Из заголовка Link rel=next предыдущей страницы"),
        ],
        responses={200: NotificationOutput(many=True)},
        description='The caller\'s notifications, newest first. Next page: `Link: <url>; rel="next"` header, '
        "absent on the last page.",
    )
    def get(self, request):
        def unread_only() -> bool:
            unread = request.query_params.get("unread", "")
            if unread not in UNREAD_VALUES:
                raise ValidationError({"unread": [UNREAD_INVALID]})
            return UNREAD_VALUES[unread]

        def wanted():
            return page_request(request.query_params, key_size=selectors.KEY_SIZE)

        page = self.session_read(
            request,
            checked=lambda claims: selectors.notifications_page_of_session(
                claims=claims, unread_only=unread_only(), page=wanted()
            ),
            unchecked=lambda user: selectors.notifications_page(
                user_id=user.pk, unread_only=unread_only(), page=wanted()
            ),
        )
        body = json_bytes(notification_items(page.items, request))
        return json_response(body, headers=next_link(request, page.next_cursor))


class UnreadCountView(SessionCheckInView, APIView):
    # A Bearer request's user check runs in the count's statement (as the page's).
    @extend_schema(responses={200: UnreadCountOutput})
    def get(self, request):
        count = self.session_read(
            request,
            checked=lambda claims: selectors.unread_count_of_session(claims=claims),
            unchecked=lambda user: selectors.unread_count(user_id=user.pk),
        )
        return Response({"unread_count": count})


class MarkReadView(APIView):
    @extend_schema(
        request=MarkReadInput,
        responses={200: UnreadCountOutput, 400: OpenApiResponse(description="Ошибки полей")},
        description='`{"ids": [...]}` (ids that are not the caller\'s are ignored) or `{"all": true}`.',
    )
    def post(self, request):
        if not isinstance(request.data, Mapping):
            raise ValidationError({"detail": [NOT_AN_OBJECT]})
        data = MarkReadInput(data=request.data)
        data.is_valid(raise_exception=True)
        count = services.notifications_mark_read(
            user_id=request.user.pk,
            ids=data.validated_data.get("ids"),
            everything=data.validated_data.get("all", False),
        )
        return Response({"unread_count": count})
