import uuid

import pytest
import requests
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import path

from social import urls as root_urls


def test_a_file_saved_through_the_storage_lands_in_s3_and_its_url_serves_it():
    name = default_storage.save(f"tests/{uuid.uuid4().hex}.txt", ContentFile(b"hello s3"))
    try:
        url = default_storage.url(name)
        assert url.startswith("http://127.0.0.1:")  # the moto endpoint, over HTTP
        response = requests.get(url, timeout=10)
        assert response.status_code == 200
        assert response.content == b"hello s3"
    finally:
        default_storage.delete(name)
    assert not default_storage.exists(name)


@pytest.mark.django_db
def test_unknown_api_path_answers_json_404(anon_client):
    response = anon_client.get("/api/no/such/thing")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert response.json() == {"detail": "Не найдено."}


@pytest.mark.django_db
def test_unknown_path_outside_api_answers_json_404(anon_client):
    response = anon_client.get("/nothing-here")
    assert response.status_code == 404
    assert response.json() == {"detail": "Не найдено."}


def _boom(request):
    raise RuntimeError("forced failure")


urlpatterns = [path("boom", _boom), *root_urls.urlpatterns]
handler500 = root_urls.handler500


@pytest.mark.django_db
@pytest.mark.urls("tests.test_storage_and_errors")
def test_a_server_error_answers_json_500():
    client = Client(raise_request_exception=False)
    response = client.get("/boom")
    assert response.status_code == 500
    assert response["Content-Type"].startswith("application/json")
    assert response.json() == {"detail": "Внутренняя ошибка сервера."}


@pytest.mark.django_db
def test_unknown_api_path_answers_json_even_with_debug_on(anon_client, settings):
    settings.DEBUG = True
    response = anon_client.get("/api/posts/not-a-uuid")
    assert response.status_code == 404
    assert response.json() == {"detail": "Не найдено."}
