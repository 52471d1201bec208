import functools

import factory
from django.contrib.auth.hashers import make_password

from accounts.models import User

PASSWORD = "Kor0tkiy-Parol-42"


@functools.cache
def _password_hash() -> str:
    # One real Argon2 hash for every factory user: hashing per user would dominate the suite.
    return make_password(PASSWORD)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    password = factory.LazyFunction(_password_hash)
