from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.serializers import AuthorSerializer, DetailOutput, UserSerializer
from friends import selectors, services
from friends.serializers import FriendCheckOutput, SearchInput
from social.exceptions import acting_as_check
from social.pagination import next_link, page_request
from social.schema import error_responses
from social.throttles import per_user

PAGE_PARAMETERS = [
    OpenApiParameter("limit", OpenApiTypes.INT, description="1–100, по умолчанию 20"),
    OpenApiParameter("cursor", OpenApiTypes.STR, description="из заголовка Link предыдущей страницы"),
]
PAGE_DESCRIPTION = 'Paginated: the next page\'s URL is in the `Link: <…>; rel="next"` header, absent on the last page.'
NO_SUCH_USER = error_responses({404: "Нет такого активного пользователя"})
ERRORS_ACT = error_responses(
    {
        400: "Сам себя",
        403: "user_id — не вызывающий пользователь",
        404: "Нет такого активного пользователя / не друзья",
    }
)


class FriendsAllView(APIView):
    @extend_schema(
        parameters=PAGE_PARAMETERS,
        responses={200: UserSerializer(many=True), 400: OpenApiTypes.OBJECT},
        description="The caller's friends, newest friendship first. " + PAGE_DESCRIPTION,
    )
    def get(self, request):
        page = page_request(request.query_params, key_size=len(selectors.FRIENDS_PAGE_KEY))
        friends = selectors.friends_page(user=request.user, page=page)
        body = UserSerializer(friends.items, many=True, context={"request": request, "friends": True}).data
        return Response(body, headers=next_link(request, friends.next_cursor))


class FriendCheckView(APIView):
    @extend_schema(responses={200: FriendCheckOutput, **NO_SUCH_USER})
    def get(self, request, user_id, friend_id):
        user = selectors.user_active_get(user_id=user_id)
        friend = selectors.user_active_get(user_id=friend_id)
        return Response({"user_is_friend": selectors.is_friend(user=user, friend=friend)})


class FriendAddView(APIView):
    throttle_classes = [per_user("friend_add")]

    @extend_schema(request=None, responses={200: DetailOutput, **ERRORS_ACT, **error_responses({409: "Уже друзья"})})
    def post(self, request, user_id, friend_id):
        acting_as_check(user_id=user_id, caller=request.user, message=services.NOT_YOURSELF)
        friend = selectors.user_active_get(user_id=friend_id)
        services.friendship_add(user=request.user, friend=friend)
        return Response({"detail": services.ADDED.format(user=request.user.username, friend=friend.username)})


class FriendRemoveView(APIView):
    @extend_schema(request=None, responses={200: DetailOutput, **ERRORS_ACT})
    def post(self, request, user_id, friend_id):
        acting_as_check(user_id=user_id, caller=request.user, message=services.NOT_YOURSELF)
        friend = selectors.user_active_get(user_id=friend_id)
        services.friendship_remove(user=request.user, friend=friend)
        return Response({"detail": services.REMOVED.format(user=request.user.username, friend=friend.username)})


class UserSearchView(APIView):
    throttle_classes = [per_user("search")]

    @extend_schema(
        parameters=[
            OpenApiParameter("search", OpenApiTypes.STR, required=True, description="начало имени, 1–150 символов"),
            *PAGE_PARAMETERS,
        ],
        responses={200: AuthorSerializer(many=True), 400: OpenApiTypes.OBJECT},
        description="Active users whose username starts with `search` (case-insensitive), "
        "ordered by username. " + PAGE_DESCRIPTION,
    )
    def get(self, request):
        data = SearchInput(data=request.query_params)
        data.is_valid(raise_exception=True)
        page = page_request(request.query_params, key_size=len(selectors.SEARCH_PAGE_KEY))
        users = selectors.users_search_page(query=data.validated_data["search"], viewer=request.user, page=page)
        body = AuthorSerializer(users.items, many=True, context={"request": request}).data
        return Response(body, headers=next_link(request, users.next_cursor))
