# syntax=docker/dockerfile:1
#
# The LEAP images, one target each:
#   docker build --target operator  -t REGISTRY/leap-operator:VERSION  --build-arg VERSION=VERSION .
#   docker build --target ingestion -t REGISTRY/leap-ingestion:VERSION --build-arg VERSION=VERSION .
#   docker build --target scoring   -t REGISTRY/leap-scoring:VERSION   --build-arg VERSION=VERSION .
#   docker build --target portal    -t REGISTRY/leap-portal:VERSION    --build-arg VERSION=VERSION .
#   docker build --target notifier  -t REGISTRY/leap-notifier:VERSION  --build-arg VERSION=VERSION .
#   docker build --target backup    -t REGISTRY/leap-backup:VERSION    --build-arg VERSION=VERSION .
# `make docker-build` runs these with the Makefile's IMAGE_REGISTRY and VERSION.
# The operator's default component images are REGISTRY/leap-<component>:VERSION,
# so the images of one VERSION belong together.
#
# Each image holds one static Go binary (CGO off, -trimpath, time zone data
# embedded) on distroless/static: CA certificates and a passwd entry for the
# nonroot user, no shell, no package manager. It runs as UID 65532, which the
# Pod Security Standard "restricted" needs and the chart sets.

ARG GO_VERSION=1.26
ARG BASE_IMAGE=gcr.io/distroless/static-debian12:nonroot

# --- modules: downloaded once for every target, cached while go.mod/go.sum stay.
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS modules
WORKDIR /src
ENV CGO_ENABLED=0 GOFLAGS=-buildvcs=false
COPY go.work go.work.sum ./
COPY operator/go.mod operator/go.sum operator/
COPY operator/api/go.mod operator/api/go.sum operator/api/
COPY services/go.mod services/go.sum services/
RUN --mount=type=cache,target=/go/pkg/mod go mod download

FROM modules AS source
COPY operator/ operator/
COPY services/ services/

# --- one build stage per binary, so that a target builds only its own.
FROM source AS build-operator
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -tags timetzdata \
      -ldflags "-s -w -X main.version=${VERSION}" -o /out/leap-operator ./operator/cmd/manager

FROM source AS build-ingestion
ARG TARGETOS
ARG TARGETARCH
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -tags timetzdata \
      -ldflags "-s -w" -o /out/leap-ingestion ./services/ingestion/cmd/leap-ingestion

FROM source AS build-scoring
ARG TARGETOS
ARG TARGETARCH
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -tags timetzdata \
      -ldflags "-s -w" -o /out/leap-scoring ./services/scoring/cmd/leap-scoring

FROM source AS build-portal
ARG TARGETOS
ARG TARGETARCH
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -tags timetzdata \
      -ldflags "-s -w" -o /out/leap-portal ./services/portal/cmd/leap-portal

FROM source AS build-notifier
FROM source AS build-backup
ARG TARGETOS
ARG TARGETARCH
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -tags timetzdata \
      -ldflags "-s -w" -o /out/leap-notifier ./services/notifier/cmd/leap-notifier
      -ldflags "-s -w" -o /out/leap-backup ./services/cmd/leap-backup

# --- the images.
FROM ${BASE_IMAGE} AS ingestion
ARG VERSION=dev
LABEL org.opencontainers.image.title="leap-ingestion" \
      org.opencontainers.image.description="LEAP ingestion: events and rosters in" \
      org.opencontainers.image.source="https://github.com/leap-dev/leap" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build-ingestion /out/leap-ingestion /leap-ingestion
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/leap-ingestion"]

FROM ${BASE_IMAGE} AS scoring
ARG VERSION=dev
LABEL org.opencontainers.image.title="leap-scoring" \
      org.opencontainers.image.description="LEAP scoring: engagement indicators, alerts and cohorts" \
      org.opencontainers.image.source="https://github.com/leap-dev/leap" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build-scoring /out/leap-scoring /leap-scoring
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/leap-scoring"]

FROM ${BASE_IMAGE} AS portal
ARG VERSION=dev
LABEL org.opencontainers.image.title="leap-portal" \
      org.opencontainers.image.description="LEAP portal: students, staff and the LEAP team" \
      org.opencontainers.image.source="https://github.com/leap-dev/leap" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build-portal /out/leap-portal /leap-portal
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/leap-portal"]

FROM ${BASE_IMAGE} AS notifier
ARG VERSION=dev
LABEL org.opencontainers.image.title="leap-notifier" \
      org.opencontainers.image.description="LEAP notifier: tutors' digests, referrals and students' notices by email" \
      org.opencontainers.image.source="https://github.com/leap-dev/leap" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build-notifier /out/leap-notifier /leap-notifier
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/leap-notifier"]
# leap-backup: the backup CronJob's snapshots, and the restore of a new
# Redis, where an init container copies the binary into the Redis image's
# pod (static, so it runs there too).
FROM ${BASE_IMAGE} AS backup
ARG VERSION=dev
LABEL org.opencontainers.image.title="leap-backup" \
      org.opencontainers.image.description="LEAP backup: Redis snapshots to and from S3-compatible storage" \
      org.opencontainers.image.source="https://github.com/leap-dev/leap" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build-backup /out/leap-backup /leap-backup
USER 65532:65532
ENTRYPOINT ["/leap-backup"]

# The operator last: a plain `docker build .` builds it.
FROM ${BASE_IMAGE} AS operator
ARG VERSION=dev
LABEL org.opencontainers.image.title="leap-operator" \
      org.opencontainers.image.description="LEAP operator: reconciles LeapTerms into the services that serve them" \
      org.opencontainers.image.source="https://github.com/leap-dev/leap" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build-operator /out/leap-operator /leap-operator
USER 65532:65532
EXPOSE 8080 8081
ENTRYPOINT ["/leap-operator"]
