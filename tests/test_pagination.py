import pytest
from django.test import RequestFactory

from social.pagination import next_link


def _link_as_before(request, cursor: str) -> str:
    # What next_link wrote before it built the query itself (QueryDict copy and urlencode).
    params = request.GET.copy()
    params["cursor"] = cursor
    return f'<{request.build_absolute_uri(request.path + "?" + params.urlencode())}>; rel="next"'


@pytest.mark.parametrize(
    "query",
    [
        "",
        "limit=20",
        "cursor=old&limit=5",
        "limit=5&cursor=old&x=1",
        "cursor=a&cursor=b&limit=3",
        "q=%D0%BF%D1%80%D0%B8%D0%B2%D0%B5%D1%82+%D0%BC%D0%B8%D1%80&tag=a%26b%3Dc&tag=%2B",
        "empty=&flag&limit=7",
        "a=1&b=2&a=3",
    ],
)
def test_the_next_link_keeps_the_query_in_its_order_with_the_new_cursor(query):
    request = RequestFactory().get(f"/api/posts/all?{query}")
    cursor = "eyJrIjpbIjIwMjYiLCIxIl19"
    assert next_link(request, cursor) == {"Link": _link_as_before(request, cursor)}


def test_the_last_page_has_no_next_link():
    assert next_link(RequestFactory().get("/api/posts/all?limit=3"), None) == {}
