"""The API docs in a real (headless) Chromium, against the production shape: Swagger UI renders
every operation from this server's own files, under the page's Content-Security-Policy, with
no request to any other host (the machine has no internet, as a CI runner or an intranet may not)."""

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import sync_playwright

from e2e.test_admin_in_a_browser import CHROMIUM, CHROMIUM_ARGS
from scripts.serve import Shape, free_port
from testsupport import live

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


def test_swagger_ui_renders_offline_from_this_server_under_its_csp():
    with Shape(free_port(), env=live.server_env(COOKIE_SECURE=0, DEBUG=0, STATIC_MANIFEST=1), workers=1) as shape:
        base = f"http://127.0.0.1:{shape.port}"
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page()
            hosts, failed, violations = set(), [], []
            page.on("request", lambda request: hosts.add(urlsplit(request.url).netloc))
            page.on("requestfailed", lambda request: failed.append(request.url))
            page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
            page.goto(f"{base}/api/docs/")
            page.wait_for_selector("#operations-auth-auth_login_create", timeout=20_000)
            operations = page.locator(".opblock").count()
            browser.close()
    assert hosts <= {f"127.0.0.1:{shape.port}", ""}, hosts  # "" : data: icons
    assert not failed and not violations, (failed, violations)
    assert operations >= 25
