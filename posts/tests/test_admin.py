import pytest
from django.test import Client

from accounts.tests.factories import UserFactory
from posts.models import Post, PostImage
from posts.tests.factories import LikeFactory, PostFactory, PostImageFactory
from testsupport.images import image_upload

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client() -> Client:
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_admin_lists_posts_with_author_date_likes_and_views(staff_client):
    post = PostFactory(description="Закат над морем")
    LikeFactory(post=post)
    Post.objects.filter(pk=post.pk).update(views_count=7)

    response = staff_client.get("/admin/posts/post/")

    assert response.status_code == 200
    page = response.content.decode()
    assert post.author.username in page and "Закат над морем" in page
    assert ">1<" in page and ">7<" in page


@pytest.mark.parametrize("query", ["закат", "photographer"])
def test_admin_searches_by_description_and_author_username(staff_client, query):
    found = PostFactory(description="Закат", author=UserFactory(username="photographer"))
    PostFactory(description="Рассвет")

    response = staff_client.get("/admin/posts/post/", {"q": query})

    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [found]


def test_admin_change_page_shows_the_images(staff_client):
    image = PostImageFactory()

    response = staff_client.get(f"/admin/posts/post/{image.post_id}/change/")

    assert response.status_code == 200
    assert image.file.name in response.content.decode()


def test_deleting_in_the_admin_goes_through_the_service(staff_client, django_capture_on_commit_callbacks):
    post = PostFactory()

    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(f"/admin/posts/post/{post.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not Post.objects.filter(pk=post.pk).exists()


def test_deleting_a_user_in_the_admin_deletes_their_posts_files(
    staff_client, client_for, user, bucket_keys, django_capture_on_commit_callbacks
):
    created = client_for(user).post(
        "/api/posts/create", {"author": str(user.pk), "images": [image_upload("a.png", "PNG")]}, format="multipart"
    )
    assert created.status_code == 201, created.content
    image = PostImage.objects.get(post_id=created.json()["id"])
    names = {image.file.name, image.thumb.name, image.medium.name}  # the original and its variants
    assert len(names) == 3 and names <= bucket_keys()

    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(f"/admin/accounts/user/{user.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not Post.objects.filter(author_id=user.pk).exists()
    assert not names & bucket_keys()
