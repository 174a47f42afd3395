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
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /var/lib/socbot --create-home socbot
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER socbot
ENV SOCBOT_STATE_DIR=/var/lib/socbot PYTHONUNBUFFERED=1
# HTTP mode listens here; Socket Mode needs no inbound port.
EXPOSE 3000
ENTRYPOINT ["socbot"]
CMD ["run"]
