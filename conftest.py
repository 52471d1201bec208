"""Fixtures shared by every app's tests. App-specific ones live in <app>/tests/conftest.py."""

import pytest
from django.conf import settings
from django.core.cache import cache
from rest_framework.test import APIClient

from accounts.services import session_start
from accounts.tests.factories import PASSWORD, UserFactory
from posts import fragments
from social import health, limits


@pytest.fixture(autouse=True)
def _fresh_cache():
    # Throttle counters and recommendation snapshots live in the cache: no test sees another's.
    # The per-process caches are emptied too, so query counts do not depend on test order.
    cache.clear()
    health.reset_cache()
    limits.state_reset()
    fragments.cache_clear()
    yield
    cache.clear()


@pytest.fixture
def password() -> str:
    return PASSWORD


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def other_user(db):
    return UserFactory()


@pytest.fixture
def anon_client() -> APIClient:
    return APIClient()


@pytest.fixture
def client_for(db):
    """client_for(user) -> an APIClient authenticated with a Bearer token of a new session."""

    def make(user) -> APIClient:
        client = APIClient()
        tokens = session_start(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens.access}")
        client.tokens = tokens
        client.user = user
        return client

    return make


@pytest.fixture
def api(client_for, user) -> APIClient:
    """An APIClient signed in (Bearer) as `user`."""
    return client_for(user)


@pytest.fixture(scope="session")
def s3():
    """A boto3 client of the test bucket's S3 server (moto over HTTP)."""
    import boto3

    options = settings.STORAGES["default"]["OPTIONS"]
    return boto3.client(
        "s3",
        endpoint_url=options["endpoint_url"],
        aws_access_key_id=options["access_key"],
        aws_secret_access_key=options["secret_key"],
        region_name=options["region_name"],
    )


@pytest.fixture
def bucket_keys(s3):
    """bucket_keys() -> the set of object keys currently in the test bucket."""
    bucket = settings.STORAGES["default"]["OPTIONS"]["bucket_name"]

    def keys() -> set[str]:
        found = set()
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            found.update(item["Key"] for item in page.get("Contents", []))
        return found

    return keys
