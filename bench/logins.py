"""Login figures (latency, throughput, the cost of one Argon2 verification) and the post-create body."""

import json
import time
from pathlib import Path

from bench.load import wrk_config, wrk_series
from bench.stats import mmm


def post_image_bytes() -> bytes:
    import io

    from PIL import Image, ImageDraw

    image = Image.new("RGB", (800, 600), (90, 140, 200))
    draw = ImageDraw.Draw(image)
    for i in range(0, 800, 40):
        draw.line([(i, 0), (800 - i, 600)], fill=(255, 200 - i // 8, i // 4), width=6)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def multipart(boundary: str, fields: dict, image: bytes) -> bytes:
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="images"; filename="bench.jpg"\r\n'
        f"Content-Type: image/jpeg\r\n\r\n".encode()
        + image
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts)


def login_figures(port: int, settings: dict, work: Path) -> dict:
    """Sequential logins through the shape (latency), wrk logins (throughput), and the cost of
    one Argon2 verification measured in this process."""
    import http.client

    from django.contrib.auth.hashers import check_password, make_password

    from accounts.models import User
    from demo.seeding import DEMO_PASSWORD

    users = list(User.objects.filter(username__startswith="demo_").order_by("?")[: settings["logins"]])
    latencies = []
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for user in users:
        body = json.dumps({"email": user.email, "password": DEMO_PASSWORD})
        started = time.perf_counter()
        connection.request("POST", "/api/auth/login", body=body, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        latencies.append((time.perf_counter() - started) * 1000)
        if response.status != 200:
            raise RuntimeError(f"login answered {response.status}")
    connection.close()
    encoded = make_password(DEMO_PASSWORD)
    hashes = []
    for _ in range(settings["logins"]):
        started = time.perf_counter()
        check_password(DEMO_PASSWORD, encoded)
        hashes.append((time.perf_counter() - started) * 1000)
    # Throughput: 16 connections of logins (each a new session).
    requests = []
    for i, user in enumerate(users[:16]):
        body = work / f"login-{i}.body"
        body.write_text(json.dumps({"email": user.email, "password": DEMO_PASSWORD}))
        requests.append({"path": "/api/auth/login", "body_file": body})
    config = wrk_config(work / "login.lua", requests, method="POST", content_type="application/json")
    throughput = wrk_series(f"http://127.0.0.1:{port}", config, settings)
    return {"latency_ms": mmm(latencies), "argon2_ms": mmm(hashes), "wrk": throughput}
