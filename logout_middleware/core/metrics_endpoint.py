"""``metrics_path``: the Prometheus scrape of the middleware's counters and gauges, which the driver keeps."""

from __future__ import annotations

from .methods import method_not_allowed
from .values import CollectMetrics, LogoutRequest, Reply, Steps

__all__ = ["CONTENT_TYPE", "MetricsEndpoint"]

#: The Prometheus text format, version 0.0.4: what ``prometheus_client.generate_latest`` writes.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class MetricsEndpoint:
    """Answers a scrape with the metrics the driver renders (it asks for them by yielding :class:`CollectMetrics`)."""

    def __call__(self, request: LogoutRequest) -> Steps[Reply]:
        if request.method not in ("GET", "HEAD"):
            return method_not_allowed("metrics", request.method, "metrics take GET", "GET, HEAD")
        body: bytes = yield CollectMetrics()
        headers = [("Content-Type", CONTENT_TYPE), ("Content-Length", str(len(body))), ("Cache-Control", "no-store")]
        return Reply(200, headers, b"" if request.method == "HEAD" else body)
