from collections.abc import Mapping

from django.core.exceptions import ValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import SessionCheckInView
from accounts.serializers import UserSerializer
from friends import selectors as friends_selectors
from friends.serializers import ProfileOutput
from posts import fragments, recommendations, selectors, services
from posts.serializers import (
    CommentInput,
    CommentOutput,
    PostCreateForm,
    PostCreateInput,
    PostSerializer,
    comment_items,
)
from social.exceptions import PostNotFound, UserNotFound, acting_as_check
from social.images import request_images
from social.pagination import next_link, page_request, parse_limit
from social.renderers import json_bytes, json_response
from social.schema import error_responses
from social.throttles import per_user

NOT_AN_OBJECT = "Ожидается форма или JSON-объект."

ERRORS = error_responses({403: "Действие от имени другого пользователя", 404: "Не найдено"})
PAGE_PARAMETERS = [
    OpenApiParameter("limit", OpenApiTypes.INT, description="1–100, по умолчанию 20"),
    OpenApiParameter("cursor", OpenApiTypes.STR, description="Из заголовка Link rel=next предыдущей страницы"),
]
PAGE_HEADERS = 'Next page: `Link: <url>; rel="next"` header, absent on the last page.'


def _page_wanted(request):
    return page_request(request.query_params, key_size=selectors.KEY_SIZE)


def _limit_wanted(request) -> int:
    return parse_limit(request.query_params.get("limit"))


def _post_body(request, post_id) -> dict:
    post = selectors.post_detail(post_id=post_id, viewer=request.user)
    return PostSerializer(post, context={"request": request}).data


class PostCreateView(APIView):
    throttle_classes = [per_user("post_create")]

    @extend_schema(
        request={"multipart/form-data": PostCreateForm},
        responses={201: PostSerializer, 400: OpenApiResponse(description="Ошибки полей"), **ERRORS},
        description="`author` must be the caller. 0–10 JPEG/PNG/WebP/GIF images, each ≤ 10 MB. "
        "A JSON body `{author, description}` (no images) is accepted too.",
    )
    def post(self, request):
        if not isinstance(request.data, Mapping):
            raise ValidationError({"detail": [NOT_AN_OBJECT]})
        fields = {key: request.data.get(key) for key in ("author", "description") if key in request.data}
        data = PostCreateInput(data=fields)
        data.is_valid(raise_exception=True)
        acting_as_check(user_id=data.validated_data["author"], caller=request.user, message=services.NOT_THE_AUTHOR)
        post = services.post_create(
            author=request.user, description=data.validated_data["description"], images=request_images(request)
        )
        return Response(_post_body(request, post.pk), status=status.HTTP_201_CREATED)


class FeedView(SessionCheckInView, APIView):
    # The hottest read: a Bearer request's user check runs in the page's statement.
    @extend_schema(parameters=PAGE_PARAMETERS, responses={200: PostSerializer(many=True), **ERRORS})
    def get(self, request):
        page = self.session_read(
            request,
            checked=lambda claims: selectors.feed_page_of_session(claims=claims, page=_page_wanted(request)),
            unchecked=lambda viewer: selectors.feed_page(viewer=viewer, page=_page_wanted(request)),
        )
        return fragments.posts_response(page.items, request=request, headers=next_link(request, page.next_cursor))


class RecommendedView(SessionCheckInView, APIView):
    # A Bearer request's first page from a fresh kept ranking checks the token's user in its page
    # statement (as the feed's); any other page checks it first, so that a refused token causes
    # no ranking, no snapshot and no refresh task.
    @extend_schema(
        parameters=PAGE_PARAMETERS,
        responses={
            200: PostSerializer(many=True),
            400: OpenApiResponse(description="`limit` out of range, a malformed cursor or an expired walk"),
        },
        description=(
            "The caller's recommendations: the feed's post objects ranked by friends' posts, posts "
            "friends liked, posts liked by people with similar likes and popularity, with a time "
            "decay; at most RECO_AUTHOR_CAP posts of one author per page. The first page fixes the "
            "ranking for the whole walk (no post twice); a cursor stays valid for RECO_SNAPSHOT_TTL "
            "seconds after its page was read. " + PAGE_HEADERS
        ),
    )
    def get(self, request):
        read = recommendations.RecommendedRead(cursor=request.query_params.get("cursor"))
        page = self.session_read(
            request,
            checked=lambda claims: read.page_of_session(claims=claims, limit=_limit_wanted(request)),
            unchecked=lambda viewer: read.page(viewer=viewer, limit=_limit_wanted(request)),
        )
        return fragments.posts_response(page.items, request=request, headers=next_link(request, page.next_cursor))


class UserPostsView(SessionCheckInView, APIView):
    # A Bearer request's user check runs in the page's statement (as the feed's).
    @extend_schema(
        parameters=PAGE_PARAMETERS, responses={200: PostSerializer(many=True), **ERRORS}, description=PAGE_HEADERS
    )
    def get(self, request, user_id):
        page = self.session_read(
            request,
            checked=lambda claims: selectors.user_posts_page_of_session(
                claims=claims, user_id=user_id, page=_page_wanted(request)
            ),
            unchecked=lambda viewer: selectors.user_posts_page(
                user_id=user_id, viewer=viewer, page=_page_wanted(request)
            ),
            before=(ValidationError, UserNotFound),
        )
        if page is None:  # no such user, found by the statement
            raise UserNotFound()
        return fragments.posts_response(page.items, request=request, headers=next_link(request, page.next_cursor))


class PostDetailView(APIView):
    @extend_schema(responses={200: PostSerializer, **ERRORS}, description="Counts the caller as a viewer.")
    def get(self, request, post_id):
        services.post_view_record(post_id=post_id, viewer=request.user)
        return Response(_post_body(request, post_id))

    @extend_schema(responses={204: None, **ERRORS}, description="The author or staff only.")
    def delete(self, request, post_id):
        post = selectors.post_get(post_id=post_id)
        services.post_delete(post=post, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PostLikeView(SessionCheckInView, APIView):
    # A Bearer toggle's user check runs in the toggle's statement, gating its writes.
    session_checked_methods = frozenset({"PATCH"})

    @extend_schema(request=None, responses={200: PostSerializer, **ERRORS}, description="Toggles the caller's like.")
    def patch(self, request, post_id, user_id):
        claims = self.session_claims
        if claims is None or claims.user_id != user_id:
            # Checked before the toggle (DRF's check, or here another user's like: the check on
            # its own, a 401 before the 403).
            self.session_check(request)
            acting_as_check(user_id=user_id, caller=request.user, message=services.NOT_YOUR_LIKE)
        # The toggle checks that the caller may see the post, in its statement.
        toggled = self.session_read(
            request,
            checked=lambda claims: services.like_toggle_of_session(post_id=post_id, claims=claims),
            unchecked=lambda user: services.like_toggle(post_id=post_id, user=user),
        )
        if toggled is None:  # a post the caller may not see, found by the statement
            raise PostNotFound()
        ref = selectors.PostRef(post_id, toggled.post.created_at, toggled.post.rev, toggled.liked)
        body = fragments.like_toggled_json(ref=ref, user=request.user, request=request)
        if body is None:  # deleted since the toggle
            raise PostNotFound()
        return json_response(body)


class PostLikersView(APIView):
    @extend_schema(
        parameters=PAGE_PARAMETERS, responses={200: UserSerializer(many=True), **ERRORS}, description=PAGE_HEADERS
    )
    def get(self, request, post_id):
        page = selectors.post_likers_page(
            post_id=post_id, viewer=request.user, page=page_request(request.query_params, key_size=selectors.KEY_SIZE)
        )
        body = UserSerializer(page.items, many=True, context={"request": request}).data
        return Response(body, headers=next_link(request, page.next_cursor))


class ProfileView(APIView):
    @extend_schema(responses={200: ProfileOutput, **error_responses({404: "Нет такого активного пользователя"})})
    def get(self, request, user_id):
        profile = friends_selectors.profile_detail(
            user_id=user_id, viewer=request.user, counts={"posts_count": selectors.posts_count_of_author()}
        )
        return Response(ProfileOutput(profile, context={"request": request}).data)


class PostCommentsView(SessionCheckInView, APIView):
    # A hot read: a Bearer request's user check runs in the page's statement (as the feed's).
    # Only the creation is limited (comment spam); reading the page is not.
    def get_throttles(self):
        return [per_user("comment_create")()] if self.request.method == "POST" else []

    @extend_schema(
        parameters=PAGE_PARAMETERS,
        responses={200: CommentOutput(many=True), **ERRORS},
        description="The post's comments, oldest first. " + PAGE_HEADERS,
    )
    def get(self, request, post_id):
        page = self.session_read(
            request,
            checked=lambda claims: selectors.post_comments_page_of_session(
                claims=claims, post_id=post_id, page=_page_wanted(request)
            ),
            unchecked=lambda viewer: selectors.post_comments_page(
                post_id=post_id, viewer=viewer, page=_page_wanted(request)
            ),
            before=(ValidationError, PostNotFound),
        )
        if page is None:  # a post the caller may not see, found by the statement
            raise PostNotFound()
        body = json_bytes(comment_items(page.items, request))
        return json_response(body, headers=next_link(request, page.next_cursor))

    @extend_schema(
        request=CommentInput,
        responses={201: CommentOutput, 400: OpenApiResponse(description="Ошибки полей"), **ERRORS},
        description="`text`: 1–2000 characters, not only whitespace. Limited per user (`comment_create`).",
    )
    def post(self, request, post_id):
        if not isinstance(request.data, Mapping):
            raise ValidationError({"detail": [NOT_AN_OBJECT]})
        data = CommentInput(data=request.data)
        data.is_valid(raise_exception=True)
        selectors.post_visible_get(post_id=post_id, viewer=request.user)
        comment = services.comment_create(post_id=post_id, author=request.user, text=data.validated_data["text"])
        comment.author = request.user
        body = CommentOutput(comment, context={"request": request}).data
        return Response(body, status=status.HTTP_201_CREATED)


class PostCommentView(APIView):
    @extend_schema(responses={204: None, **ERRORS}, description="The comment's author, the post's author or staff.")
    def delete(self, request, post_id, comment_id):
        comment = selectors.comment_get(post_id=post_id, comment_id=comment_id)
        services.comment_delete(comment=comment, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
