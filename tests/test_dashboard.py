"""The provisioned Grafana dashboard and compose's observability profile match what the app exports."""

import json
import re
from pathlib import Path

import yaml

from social import metrics

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "social.json"

# PromQL words that look like names: functions, aggregations, keywords.
PROMQL_WORDS = {
    "sum", "rate", "irate", "increase", "histogram_quantile", "by", "without", "avg", "max", "min",
    "count", "topk", "bottomk", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
    "offset", "clamp_min", "clamp_max", "abs", "delta", "deriv", "le",
}  # fmt: skip


def queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def names_in(expr: str) -> set[str]:
    # Strip label matchers' values, durations and numbers, then every identifier left is a
    # metric, a label or a PromQL word.
    bare = re.sub(r'"[^"]*"', "", expr)
    bare = re.sub(r"\[[^\]]*\]", "", bare)
    return set(re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", bare)) - PROMQL_WORDS


def labels_of_ours() -> set[str]:
    return {label for metric in metrics.OUR_METRICS for label in metric._labelnames} | {"le"}


def test_every_dashboard_query_names_a_metric_the_app_exports():
    exported = metrics.exported_names()
    labels = labels_of_ours()
    found = queries()
    assert len(found) >= 10
    for expr in found:
        names = names_in(expr)
        metric_names = {name for name in names if name not in labels}
        assert metric_names, f"no metric in {expr!r}"
        assert metric_names <= exported, f"{expr!r} names {metric_names - exported}, not exported"


def test_the_dashboard_covers_what_an_operator_asks_on_a_bad_day():
    named = set().union(*(names_in(expr) for expr in queries()))
    for needed in (
        "social_http_requests_total",  # request rate and error ratio
        "social_http_request_duration_seconds_bucket",  # p50/p99 per route
        "social_websockets_open",
        "social_channel_layer_send_seconds_bucket",  # fan-out latency
        "social_db_pool_connections",
    ):
        assert needed in named


def test_a_query_naming_an_unknown_metric_is_caught():
    # The check itself can fail: a typo'd name is not among the exported ones.
    assert "social_http_request_total" not in metrics.exported_names()
    assert names_in('sum(rate(social_http_request_total{status=~"5.."}[5m]))') == {
        "social_http_request_total",
        "status",
    }


def test_compose_runs_prometheus_and_grafana_only_in_the_observability_profile():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    for name in ("prometheus", "grafana"):
        assert services[name]["profiles"] == ["observability"]
        for volume in services[name]["volumes"]:
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), source
    assert all("profiles" not in service for name, service in services.items() if name not in ("prometheus", "grafana"))
    prometheus = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in prometheus["scrape_configs"]}
    assert {job["metrics_path"] for job in jobs.values()} == {"/api/metrics"}
    assert set(jobs) == {"api", "ws"}
    # Each app container writes its metrics to its own fresh folder.
    for name in ("api", "ws"):
        assert "/tmp/metrics:uid=10001" in services[name]["tmpfs"]
