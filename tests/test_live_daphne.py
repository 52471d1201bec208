import pytest
import requests

from testsupport import live


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_a_live_daphne_answers_health():
    with live.daphne() as address:
        response = requests.get(f"http://{address}/api/health", timeout=10)
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
