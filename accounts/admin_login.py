"""The admin's login page under the API login's rate limit (issue #19 item 7).

Django's admin login has no limit of its own: 25 wrong passwords went through in 3.6 s. Every
POST to it counts in the same per-client-IP bucket as `POST /api/auth/login` and `/api/auth/token`
(`AUTH_RATE_LIMIT`, accounts/throttles.py): one budget of password guesses per client, whichever
door it knocks on. Over it the page answers 429 with `Retry-After` before any password is checked.
"""

import math

from django.contrib import admin
from django.http import HttpResponse

from accounts.throttles import LoginThrottle

TOO_MANY_ATTEMPTS = "Слишком много попыток входа. Повторите через {seconds} с."


def admin_login(request, **kwargs):
    if request.method == "POST":
        throttle = LoginThrottle()
        if not throttle.allow_request(request, None):
            seconds = math.ceil(throttle.wait())
            return HttpResponse(
                TOO_MANY_ATTEMPTS.format(seconds=seconds),
                status=429,
                content_type="text/plain; charset=utf-8",
                headers={"Retry-After": str(seconds)},
            )
    return admin.site.login(request, **kwargs)
