"""HTTP surface of blocks: parse, call one service or selector, render."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.serializers import AuthorSerializer
from safety import selectors, services
from safety.serializers import BlockedOutput
from social.pagination import next_link, page_request
from social.schema import error_responses
from social.throttles import per_user

PAGE_PARAMETERS = [
    OpenApiParameter("limit", OpenApiTypes.INT, description="1–100, по умолчанию 20"),
    OpenApiParameter("cursor", OpenApiTypes.STR, description="из заголовка Link предыдущей страницы"),
]
ERRORS = error_responses({400: "Сам себя", 404: "Нет такого активного пользователя"})
BOTH_WAYS = (
    "A block works both ways at once: neither user sees the other's posts, profile or name in "
    "search, and neither may befriend, like, comment on, chat with or notify the other."
)


class BlockView(APIView):
    # Block and unblock share one count: each moves friendships, feeds and caches of two users.
    throttle_classes = [per_user("block")]

    @extend_schema(
        request=None,
        responses={200: BlockedOutput, **ERRORS},
        description="Block the user (idempotent); the friendship, if any, ends. " + BOTH_WAYS,
    )
    def post(self, request, user_id):
        target = selectors.block_target_get(user_id=user_id)
        services.block_create(blocker=request.user, blocked=target)
        return Response({"blocked": True})

    @extend_schema(
        request=None,
        responses={200: BlockedOutput, **ERRORS},
        description="Lift the caller's block (idempotent). Visibility comes back, the friendship does not.",
    )
    def delete(self, request, user_id):
        target = selectors.block_target_get(user_id=user_id)
        services.block_remove(blocker=request.user, blocked=target)
        return Response({"blocked": False})


class BlockedListView(APIView):
    @extend_schema(
        parameters=PAGE_PARAMETERS,
        responses={200: AuthorSerializer(many=True), 400: OpenApiTypes.OBJECT},
        description="The users the caller blocked, newest block first. Paginated: the next page's "
        'URL is in the `Link: <…>; rel="next"` header, absent on the last page.',
    )
    def get(self, request):
        page = selectors.blocked_page(
            blocker=request.user, page=page_request(request.query_params, key_size=len(selectors.BLOCKED_PAGE_KEY))
        )
        body = AuthorSerializer(page.items, many=True, context={"request": request}).data
        return Response(body, headers=next_link(request, page.next_cursor))
