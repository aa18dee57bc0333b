# intake: one image for every role; compose.yaml runs it as smtp, web, worker, imap, telegram.
FROM python:3.11-slim

# ffprobe (from ffmpeg) reads a video's duration and codec and makes the review thumbnails.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --system --home-dir /var/lib/intake --create-home --shell /usr/sbin/nologin intake

WORKDIR /src
COPY pyproject.toml README.md ./
COPY intake ./intake
COPY channels ./channels
COPY parsers ./parsers
COPY store ./store
RUN pip install --no-cache-dir '.[s3]'

USER intake
WORKDIR /var/lib/intake
ENV INTAKE_DATA_DIR=/var/lib/intake \
    PYTHONUNBUFFERED=1
# SMTP, web app, /metrics and /healthz of processes without the web app.
EXPOSE 8025 8080 9464
CMD ["intake", "serve"]
