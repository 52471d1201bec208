"""What the metrics cost (README "Operations"; issue: within the noise, at most 10 %).

The shape `make bench` measures runs with the metrics on (the default). Beside it, the same
shape with METRICS_ENABLED=0. Each figure is paired runs side by side (`wrk_series` with the
other shape as its `floor`): on/off ratios, and off/off ratios of back-to-back runs of the
same shape, which measure the noise the on/off ratio must be read against.
"""

# What the request middleware adds per request with metrics on, timed in a process of its own
# in multiprocess mode (CPU time: other load on the machine does not move it).
_PER_REQUEST = """
import os, sys, tempfile, time
os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp()
from social import metrics
def request():
    metrics.HTTP_REQUESTS.labels("api/health", "GET", "200").inc()
    metrics.HTTP_DURATION.labels("api/health", "GET").observe(0.0012)
runs = []
for _ in range(5):
    started = time.process_time()
    for _ in range(100_000):
        request()
    runs.append((time.process_time() - started) / 100_000 * 1e6)
print(sorted(runs)[2])
"""


def metric_ops_us(python: str, root) -> float:
    """Median CPU µs of one request's counter and histogram updates (multiprocess mode)."""
    import subprocess

    done = subprocess.run([python, "-c", _PER_REQUEST], cwd=root, capture_output=True, text=True, check=True)
    return float(done.stdout.strip())


def metrics_cost(*, wrk_series, start_shape, on_base: str, configs: dict, settings: dict) -> dict:
    """{name: {"on_off": series, "off_off": series}} for each wrk config in `configs`.

    `start_shape(env_extra)` starts a shape, ready, and returns it; it is stopped here, so the
    bench's later figures run beside nothing more than before."""
    off = start_shape({"METRICS_ENABLED": "0"})
    off_base = f"http://127.0.0.1:{off.port}"
    figures = {}
    try:
        for name, config in configs.items():
            wrk_series(off_base, config, settings)  # the new shape's warm-up
            figures[name] = {
                "on_off": wrk_series(on_base, config, settings, floor=(off_base, config)),
                "off_off": wrk_series(off_base, config, settings, floor=(off_base, config)),
            }
    finally:
        off.stop()
    return figures


def metrics_cost_lines(figures: dict, fmt) -> list[str]:
    """The RESULTS.md section."""
    lines = [
        "## Metrics cost",
        "",
        "The shape with `/api/metrics` and per-request counting on (as deployed) against the same shape "
        "with `METRICS_ENABLED=0`, paired runs side by side (`bench/metrics_cost.py`). The noise is the "
        "ratio of back-to-back runs of the metrics-off shape with itself (in every pair the off shape runs "
        "first, so the on/off ratio is also shown divided by the off/off median, the order's effect "
        "taken out). Cost: 1 − the on/off median. The CPU time of the gunicorn workers per request, "
        "summed over the measured runs, is the figure least moved by other load on the machine. Goal: "
        "the on/off ratio within the noise, and its cost at most 10 %.",
        "",
        "| what | req/s on | req/s off | on/off (median, min–max) | noise: off/off (median, min–max) "
        "| on/off ÷ off/off | gunicorn CPU ms/request on / off | cost | result |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, pair in figures.items():
        if name == "ops_us":
            continue
        on_off, off_off = pair["on_off"]["ratio"], pair["off_off"]["ratio"]
        corrected = on_off["median"] / off_off["median"]
        cost = 1 - on_off["median"]
        within = off_off["min"] <= on_off["median"] <= off_off["max"]
        result = "met" if within and cost <= 0.10 else "**missed**"
        cpu_on = pair["on_off"]["cpu_ms_per_request"].get("gunicorn", 0)
        cpu_off = pair["off_off"]["cpu_ms_per_request"].get("gunicorn", 0)
        lines.append(
            f"| {name} | {fmt(pair['on_off']['rps'])} | {fmt(pair['on_off']['floor_rps'])} | "
            f"{on_off['median']:.3f} ({on_off['min']:.3f}–{on_off['max']:.3f}) | "
            f"{off_off['median']:.3f} ({off_off['min']:.3f}–{off_off['max']:.3f}) | {corrected:.3f} | "
            f"{cpu_on:.3f} / {cpu_off:.3f} | {cost * 100:.1f} % | {result} |"
        )
    if "ops_us" in figures:
        health_cpu_us = figures["`/api/health`"]["off_off"]["cpu_ms_per_request"].get("gunicorn", 0) * 1000
        lines.append("")
        lines.append(
            f"The metrics' own work per request (request counter and latency histogram, multiprocess mode, "
            f"timed alone): {figures['ops_us']:.1f} µs of CPU, "
            f"{figures['ops_us'] / max(health_cpu_us, 1e-9) * 100:.1f} % of a `/api/health` request's "
            "gunicorn CPU time measured above with metrics off."
        )
    lines.append("")
    return lines
