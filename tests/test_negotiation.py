"""The content negotiation (social.negotiation) answers as DRF's own, for every Accept header."""

import pytest
from django.http import Http404
from rest_framework.exceptions import NotAcceptable
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BrowsableAPIRenderer
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from social.negotiation import ContentNegotiation
from social.renderers import UTF8JSONRenderer

ACCEPTS = [
    None,
    "",
    "*/*",
    "application/json",
    "application/json; indent=4",
    "application/*",
    "text/html",
    "text/html, */*;q=0.8",
    "application/json, text/plain, */*",
    "application/xml",
    " */*",
    "*/* ",
]
QUERIES = ["", "?limit=5", "?format=json", "?format=api", "?format=xml", "?format="]


def _answer(negotiation, renderers, accept, query, format_suffix=None):
    extra = {} if accept is None else {"HTTP_ACCEPT": accept}
    request = Request(APIRequestFactory().get(f"/api/posts/all{query}", **extra))
    try:
        renderer, media_type = negotiation.select_renderer(request, renderers, format_suffix)
    except (NotAcceptable, Http404) as error:
        return type(error).__name__
    return type(renderer).__name__, media_type


@pytest.mark.parametrize("accept", ACCEPTS)
@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize("several", [False, True])
def test_the_renderer_and_media_type_are_drfs_own(accept, query, several):
    renderers = [UTF8JSONRenderer(), BrowsableAPIRenderer()] if several else [UTF8JSONRenderer()]
    ours = _answer(ContentNegotiation(), renderers, accept, query)
    assert ours == _answer(DefaultContentNegotiation(), renderers, accept, query)


@pytest.mark.parametrize("suffix", ["json", "xml"])
def test_a_format_suffix_is_drfs_own(suffix):
    renderers = [UTF8JSONRenderer()]
    ours = _answer(ContentNegotiation(), renderers, "*/*", "", suffix)
    assert ours == _answer(DefaultContentNegotiation(), renderers, "*/*", "", suffix)


def test_an_unacceptable_or_empty_accept_is_still_406(api):
    assert api.get("/api/auth/current_user", HTTP_ACCEPT="text/html").status_code == 406
    assert api.get("/api/auth/current_user", HTTP_ACCEPT="").status_code == 406
    assert api.get("/api/auth/current_user", HTTP_ACCEPT="*/*").status_code == 200
    assert api.get("/api/auth/current_user").status_code == 200
