# syntax=docker/dockerfile:1
# The operator and its runner in one image, with the bosh CLI and bbr at pinned versions.
#
#   docker build -t bosh-backup-operator:0.1.0 .
#   docker build --target with-cli-v1 -t bosh-backup-operator:0.1.0-v1 .   # adds the retired CLI v1
#
# bosh and bbr are built from their Go modules at the versions below; `go install`
# verifies every module against the Go checksum database (sum.golang.org), so a
# tampered download fails the build.

ARG BOSH_CLI_VERSION=v7.9.5
ARG BBR_VERSION=v1.9.73
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG GO_IMAGE=golang:1.26-bookworm

FROM ${GO_IMAGE} AS tools
ARG BOSH_CLI_VERSION
ARG BBR_VERSION
ENV CGO_ENABLED=0 GOFLAGS=-trimpath
RUN go install "github.com/cloudfoundry/bosh-cli/v7@${BOSH_CLI_VERSION}" \
 && go install "github.com/cloudfoundry/bosh-backup-and-restore/cmd/bbr@${BBR_VERSION}" \
 && mv /go/bin/bosh-cli /go/bin/bosh \
 && /go/bin/bosh --version && /go/bin/bbr version

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
