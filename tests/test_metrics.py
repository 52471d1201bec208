"""`/api/metrics` in process: who may read it, what it counts, how labels stay bounded."""

import uuid

import pytest
from django.test import override_settings
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from social.exceptions import Forbidden

pytestmark = pytest.mark.django_db

FORBIDDEN = {"detail": Forbidden.default_message}


def samples(text: str) -> dict:
    """{(name, frozenset(labels)): value} of a scrape."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(scrape: dict, name: str, **labels) -> float:
    return scrape.get((name, frozenset(labels.items())), 0.0)


def scrape(client) -> dict:
    response = client.get("/api/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    return samples(response.content.decode())


def test_requests_are_counted_by_route_template_not_raw_path(anon_client):
    before = scrape(anon_client)
    ids = [str(uuid.uuid4()) for _ in range(3)]
    for post_id in ids:
        assert anon_client.get(f"/api/posts/{post_id}").status_code == 401
    after = scrape(anon_client)
    route = "api/posts/<uuid:post_id>"
    counted = value(after, "social_http_requests_total", route=route, method="GET", status="401")
    assert counted - value(before, "social_http_requests_total", route=route, method="GET", status="401") == 3
    durations = value(after, "social_http_request_duration_seconds_count", route=route, method="GET")
    assert durations - value(before, "social_http_request_duration_seconds_count", route=route, method="GET") == 3
    # No series names a raw id.
    assert not any(post_id in label for key in after for _, label in key[1] for post_id in ids)


def test_an_unknown_method_is_one_label_value(anon_client):
    anon_client.generic("BREW", "/api/health")
    labels = [dict(key[1]) for key in scrape(anon_client) if key[0] == "social_http_requests_total"]
    assert {"route": "api/health", "method": "other", "status": "405"} in labels
    assert not any(label["method"] == "BREW" for label in labels)


@override_settings(METRICS_ALLOWED_CIDRS=["10.0.0.0/8"])
def test_a_disallowed_address_gets_a_json_403(anon_client):
    response = anon_client.get("/api/metrics")  # the test client comes from 127.0.0.1
    assert response.status_code == 403
    assert response.json() == FORBIDDEN
    assert anon_client.get("/api/metrics", REMOTE_ADDR="10.2.3.4").status_code == 200
    assert anon_client.get("/api/metrics", REMOTE_ADDR="::ffff:10.2.3.4").status_code == 200


@pytest.fixture
def one_proxy(settings):
    settings.NUM_PROXIES = 1  # read by social.client_ip on each request


def test_behind_the_proxy_the_forwarded_client_address_is_judged(anon_client, one_proxy):
    # Every request comes from the proxy's loopback address; the client is the forwarded one.
    outside = anon_client.get("/api/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert outside.status_code == 403
    assert outside.json() == FORBIDDEN
    # A client cannot claim loopback by prepending to the header: only the last hop counts.
    forged = anon_client.get("/api/metrics", HTTP_X_FORWARDED_FOR="127.0.0.1, 203.0.113.9")
    assert forged.status_code == 403
    local = anon_client.get("/api/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="127.0.0.1")
    assert local.status_code == 200


@override_settings(METRICS_ALLOWED_CIDRS=[], METRICS_TOKEN="s3cret-scraper-token")
@pytest.mark.parametrize(
    ("authorization", "status"),
    [
        ("Bearer s3cret-scraper-token", 200),
        ("bearer s3cret-scraper-token", 200),
        ("Bearer wrong", 403),
        ("Bearer ", 403),
        ("Basic s3cret-scraper-token", 403),
        ("s3cret-scraper-token", 403),
        (None, 403),
    ],
)
def test_the_bearer_token_opens_the_metrics_from_anywhere(anon_client, authorization, status):
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization else {}
    response = anon_client.get("/api/metrics", **headers)
    assert response.status_code == status
    if status == 403:
        assert response.json() == FORBIDDEN


@override_settings(METRICS_ALLOWED_CIDRS=[], METRICS_TOKEN="")
def test_no_token_is_accepted_when_none_is_configured(anon_client):
    assert anon_client.get("/api/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 403


def test_only_get_reads_the_metrics(anon_client):
    response = anon_client.post("/api/metrics", {}, format="json")
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"
    assert set(response.json()) == {"detail"}


def test_metrics_off_hides_the_path_and_counts_nothing(anon_client, settings):
    settings.METRICS_ENABLED = False  # before this client's first request builds its middleware
    health = {"route": "api/health", "method": "GET", "status": "200"}
    before = REGISTRY.get_sample_value("social_http_requests_total", health) or 0
    assert anon_client.get("/api/health").status_code == 200
    assert (REGISTRY.get_sample_value("social_http_requests_total", health) or 0) == before
    response = anon_client.get("/api/metrics")
    assert response.status_code == 404
    assert set(response.json()) == {"detail"}


def test_a_refused_login_is_counted_by_its_limit_name(anon_client, settings, user):
    limit = int(settings.AUTH_RATE_LIMIT.split("/")[0])
    before = value(scrape(anon_client), "social_rate_limit_refusals_total", limit="auth_login")
    for _ in range(limit + 2):
        anon_client.post("/api/auth/login", {"email": user.email, "password": "wrong"}, format="json")
    after = value(scrape(anon_client), "social_rate_limit_refusals_total", limit="auth_login")
    assert after - before == 2


def test_post_lists_count_their_encoding_cache_hits(client_for, user):
    from posts.tests.factories import PostFactory

    PostFactory.create_batch(3, author=user)
    api = client_for(user)
    before = scrape(api)
    assert api.get("/api/posts/all").status_code == 200  # encodes all three
    assert api.get("/api/posts/all").status_code == 200  # reuses them
    after = scrape(api)
    hits = value(after, "social_post_cache_lookups_total", result="hit")
    misses = value(after, "social_post_cache_lookups_total", result="miss")
    assert hits - value(before, "social_post_cache_lookups_total", result="hit") == 3
    assert misses - value(before, "social_post_cache_lookups_total", result="miss") == 3


def test_image_processing_time_is_observed_per_image(api, user):
    from testsupport.images import image_upload

    before = value(scrape(api), "social_image_processing_seconds_count")
    data = {"author": str(user.pk), "images": [image_upload("a.jpg"), image_upload("b.png", fmt="PNG")]}
    assert api.post("/api/posts/create", data, format="multipart").status_code == 201
    assert value(scrape(api), "social_image_processing_seconds_count") - before == 2
