# syntax=docker/dockerfile:1
# The operator and its runner in one image, with the bosh CLI and bbr at pinned versions.
#
#   docker build -t bosh-backup-operator:0.1.0 .
#   docker build --target with-cli-v1 -t bosh-backup-operator:0.1.0-v1 .   # adds the retired CLI v1
#
# bosh and bbr are built at the versions below (the same as tests/harness/bosh-tools.versions,
# which a unit test keeps in step). By default from their Go modules: `go install` verifies
# every module against the Go checksum database, so a tampered download fails the build.
# Where the module proxy refuses them, give the vendored source archives instead; each
# is checked against the sha256 pinned here and built with GOPROXY=off:
#
#   docker build --build-context tools-src=/path/to/third_party -t bosh-backup-operator:0.1.0 .

ARG BOSH_CLI_VERSION=v7.10.6
ARG BBR_VERSION=v1.9.81
ARG BOSH_CLI_SHA256=bfafc5825b76cf6652715d2a47db93a849056046fcb7e4527a844b93d7001c59
ARG BBR_SHA256=0a18c0b61a688a0672dac572e5c9b5acc661c9c846e99836c35969705d3c8d2a
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG GO_IMAGE=golang:1.26-bookworm

# empty unless --build-context tools-src=DIR names a folder with the vendored archives
FROM scratch AS tools-src

FROM ${GO_IMAGE} AS tools
ARG BOSH_CLI_VERSION
ARG BBR_VERSION
ARG BOSH_CLI_SHA256
ARG BBR_SHA256
ENV CGO_ENABLED=0
RUN --mount=from=tools-src,target=/vendored set -eu; \
    bosh_tgz="/vendored/bosh-cli-${BOSH_CLI_VERSION#v}-vendored.tar.gz"; \
    bbr_tgz="/vendored/bbr-${BBR_VERSION#v}-vendored.tar.gz"; \
    bosh_ldflags="-X 'github.com/cloudfoundry/bosh-cli/v7/cmd.VersionLabel=${BOSH_CLI_VERSION#v}'"; \
    bbr_ldflags="-X main.version=${BBR_VERSION#v}"; \
    if [ -f "$bosh_tgz" ] && [ -f "$bbr_tgz" ]; then \
      echo "${BOSH_CLI_SHA256}  $bosh_tgz" | sha256sum -c -; \
      echo "${BBR_SHA256}  $bbr_tgz" | sha256sum -c -; \
      mkdir -p /build && tar xzf "$bosh_tgz" -C /build && tar xzf "$bbr_tgz" -C /build; \
      GOFLAGS=-mod=vendor GOPROXY=off go build -C /build/bosh-cli-src -trimpath -ldflags "$bosh_ldflags" \
        -o /go/bin/bosh . ; \
      GOFLAGS=-mod=vendor GOPROXY=off go build -C /build/bbr-src -trimpath -ldflags "$bbr_ldflags" \
        -o /go/bin/bbr ./cmd/bbr ; \
    else \
      go install -trimpath -ldflags "$bosh_ldflags" "github.com/cloudfoundry/bosh-cli/v7@${BOSH_CLI_VERSION}"; \
      go install -trimpath -ldflags "$bbr_ldflags" \
        "github.com/cloudfoundry/bosh-backup-and-restore/cmd/bbr@${BBR_VERSION}"; \
      mv /go/bin/bosh-cli /go/bin/bosh; \
    fi; \
    /go/bin/bosh --version && /go/bin/bbr version

FROM ${PYTHON_IMAGE} AS wheels
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY operator ./operator
RUN python -m venv /opt/bosh-backup \
 && /opt/bosh-backup/bin/pip install --no-cache-dir -c constraints.txt .

FROM ${PYTHON_IMAGE} AS runtime
# 65532 is the user the operator's Deployment and every runner pod run as (jobs.RUN_AS)
RUN groupadd --gid 65532 bosh-backup && useradd --uid 65532 --gid 65532 --home-dir /var/lib/bosh-backup \
      --no-create-home --shell /usr/sbin/nologin bosh-backup \
 && mkdir -p /var/lib/bosh-backup/work /var/lib/bosh-backup/tmp && chown -R 65532:65532 /var/lib/bosh-backup
COPY --from=wheels /opt/bosh-backup /opt/bosh-backup
COPY --from=tools /go/bin/bosh /go/bin/bbr /usr/local/bin/
ENV PATH=/opt/bosh-backup/bin:/usr/local/bin:/usr/bin:/bin \
    HOME=/var/lib/bosh-backup/work TMPDIR=/var/lib/bosh-backup/tmp PYTHONDONTWRITEBYTECODE=1
WORKDIR /var/lib/bosh-backup/work
USER 65532:65532
ENTRYPOINT []
CMD ["bosh-backup-operator"]

FROM runtime AS with-cli-v1
USER root
RUN apt-get update && apt-get install -y --no-install-recommends ruby \
 && gem install bosh_cli --version 1.3262.26.0 --no-document \
 && ln -s "$(gem contents bosh_cli | grep '/bin/bosh$')" /usr/local/bin/bosh1 \
 && rm -rf /var/lib/apt/lists/*
USER 65532:65532
