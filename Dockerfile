# syntax=docker/dockerfile:1
# One image for all of BuildRisk: the eight services and buildrisk-admin in /usr/local/bin.
# docker-compose.yml picks the executable per container with `command:`.

# ---- build ---------------------------------------------------------------------------------
# Package.swift declares swift-tools-version 6.1; any 6.1+ bookworm toolchain image works.
ARG SWIFT_IMAGE=swift:6.1-bookworm
FROM ${SWIFT_IMAGE} AS build

RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libgit2-dev libxgboost-dev libpq-dev libcurl4-openssl-dev libnghttp2-dev \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY . .

# --static-swift-stdlib links the Swift runtime and Foundation statically, so the runtime stage
# needs only the C libraries (libgit2, libcurl). The .build cache mount keeps incremental
# rebuilds fast; the executables are copied out of it within the same step.
RUN --mount=type=cache,target=/src/.build \
    swift build -c release --static-swift-stdlib \
    && bin="$(swift build -c release --static-swift-stdlib --show-bin-path)" \
    && mkdir -p /out \
    && for exe in gateway source-validator ingestor feature-extractor scanner-bridge predictor \
                  dataset-splitter training-orchestrator buildrisk-admin; do \
           cp "$bin/$exe" /out/; \
       done

# ---- runtime -------------------------------------------------------------------------------
FROM debian:bookworm-slim

RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libgit2-1.5 libxgboost0 libcurl4 curl ca-certificates \
    && rm -rf /var/lib/apt/lists/*

# Unprivileged user; /var/lib/buildrisk (TLS material + data) belongs to it, and a fresh named
# volume mounted there inherits that ownership.
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/buildrisk --no-create-home buildrisk \
    && mkdir -p /var/lib/buildrisk/tls /var/lib/buildrisk/data \
    && chown -R buildrisk:buildrisk /var/lib/buildrisk

COPY --from=build /out/ /usr/local/bin/

ENV BUILDRISK_HOST=0.0.0.0 \
    BUILDRISK_TLS_DIR=/var/lib/buildrisk/tls \
    BUILDRISK_DATA_DIR=/var/lib/buildrisk/data

USER buildrisk
WORKDIR /var/lib/buildrisk
EXPOSE 8080 8101-8108
CMD ["gateway"]
