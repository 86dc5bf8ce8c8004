# Multi-stage build: wheels in the first stage, a slim non-root runtime in the second.
FROM python:3.12-slim AS build
WORKDIR /src
RUN apt-get update && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md ./
COPY bot ./bot
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.12-slim
RUN useradd --system --create-home --home-dir /home/zapcharge zapcharge
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER zapcharge
WORKDIR /srv/zapcharge
# relays.toml and identities/ are mounted here; data/ holds the SQLite database.
VOLUME ["/srv/zapcharge/data"]
EXPOSE 9000 8080
ENTRYPOINT ["zapcharge", "--config", "/srv/zapcharge/relays.toml"]
CMD ["run"]
