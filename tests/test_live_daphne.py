import time

import pytest
import requests

from testsupport import live


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_a_live_daphne_answers_health():
    with live.daphne() as address:
        # A cold process's first checks (the first connections, the S3 client) may outlast
        # the probe's HEALTH_CHECK_TIMEOUT: readiness then says 503 for a moment.
        deadline = time.monotonic() + 15
        while True:
            response = requests.get(f"http://{address}/api/health", timeout=10)
            if response.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
