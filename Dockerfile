# mailflow: one image for every role (web, worker, smtp, imap); `mailflow serve --roles …` picks.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MAILFLOW_DATA_DIR=/data \
    MAILFLOW_WEB_BIND=0.0.0.0:8000 \
    MAILFLOW_SMTP_BIND=0.0.0.0:8025 \
    MAILFLOW_DEV_MAIL=0

WORKDIR /app
# The pinned versions with their hashes first (requirements/runtime.txt, from scripts/lock), then
# mailflow itself without resolving anything again.
COPY requirements/runtime.txt ./requirements/runtime.txt
RUN pip install --require-hashes -r requirements/runtime.txt
COPY pyproject.toml README.md ./
COPY mailflow ./mailflow
RUN pip install --no-deps . \
    && useradd --system --uid 10001 --home-dir /data mailflow \
    && mkdir -p /data \
    && chown mailflow /data

USER mailflow
VOLUME ["/data"]
# 8000: web (manage pages, admin, API); 8025: inbound SMTP for replies.
EXPOSE 8000 8025
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
ENTRYPOINT ["mailflow"]
CMD ["serve", "--roles", "web,worker,smtp"]
