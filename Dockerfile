# syntax=docker/dockerfile:1
# Build a wheel in one stage, install it into a slim image in the next: no compiler, no
# sources and no build tools in the image that runs.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY core core
COPY collectors collectors
COPY detections detections
COPY bot bot
COPY playbooks playbooks
COPY enrichment enrichment
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /var/lib/socbot --create-home socbot
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER socbot
# /metrics and /healthz listen on SOCBOT_METRICS_LISTEN; the audit spool and any embedded Redis
# live in SOCBOT_STATE_DIR (mount a volume there to keep the spool across restarts).
ENV SOCBOT_STATE_DIR=/var/lib/socbot PYTHONUNBUFFERED=1 SOCBOT_METRICS_LISTEN=0.0.0.0:9108
VOLUME ["/var/lib/socbot"]
# HTTP mode listens on 3000 (Socket Mode needs no inbound port); Prometheus scrapes 9108.
EXPOSE 3000 9108
# Healthy when the process's /healthz answers ok (Redis reachable, every stage running).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-m", "socbot.core.health"]
ENTRYPOINT ["socbot"]
CMD ["run"]
