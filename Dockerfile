# zerodown's image: one static binary, cmd/zerodown-cluster (every
# in-cluster role, without the embedded rule evaluator: in a cluster
# Prometheus evaluates the rules), on distroless, as a non-root user; the
# manifests in deploy/ run it with a read-only root filesystem.
#
#   docker build -t zerodown:dev --build-arg VERSION=$(git describe --always) .
#
# No container engine runs on the machines this project is built and
# tested on: this file is untested there. `make image-binary` builds and
# checks the same static binary without one.
FROM docker.io/library/golang:1.26 AS build
RUN command -v make || (apt-get update && apt-get install -y --no-install-recommends make)
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN make image-binary VERSION=$VERSION

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /src/bin/zerodown-static /zerodown
USER 65532:65532
ENTRYPOINT ["/zerodown"]
