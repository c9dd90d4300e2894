# Sluice's container image: the static `sluice` binary (workers, and the
# CLI) and the example drivers, on an empty base image.
#
#   docker build -t sluice:dev .
#   docker run --rm sluice:dev version
#
# A driver is the user's own program: build it the same way (CGO_ENABLED=0,
# a static binary) into an image of its own FROM this one, or add it to the
# COPY below. Workers run the driver's binary that the driver uploads, so
# the worker image needs no driver in it.
#
# Nothing here is pulled or built by the tests; deploy/kubernetes is
# checked offline (deploy/manifests_test.go).

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# CGO_ENABLED=0: a static binary that runs with no libc in the image.
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false -o /out/ ./cmd/sluice ./examples/wordcount ./examples/sortlines
# /tmp (the event log's staging, executors' temporary files) is a volume
# in deploy/kubernetes; an empty one here for `docker run`.
RUN mkdir -p /out/tmp && chmod 1777 /out/tmp

FROM scratch
# TLS roots for S3 over HTTPS; nothing else of the build image.
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/sluice /out/wordcount /out/sortlines /usr/local/bin/
COPY --from=build /out/tmp /tmp
# A fixed non-root user (distroless's "nonroot"): a worker refuses a --dir
# that another user can write to, and needs none of root's rights.
USER 65532:65532
ENV HOME=/tmp
ENTRYPOINT ["/usr/local/bin/sluice"]
CMD ["--help"]
