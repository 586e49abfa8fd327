# wxfleet container image: a static binary on an empty base, run as a
# non-root user, its state in the /data volume.
#
#   docker build --build-arg VERSION=1.0.0 --build-arg COMMIT=$(git rev-parse HEAD) -t wxfleet .
#   docker run -p 8080:8080 -v wxfleet-data:/data --env-file wxfleet.env wxfleet
#
# See deploy/compose/ for wxfleet with PostgreSQL and docs/operations.md.

FROM golang:1.26 AS build
WORKDIR /src
# Modules first, so a code change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=devel
ARG COMMIT=
# CGO_ENABLED=0: a static binary (SQLite is modernc's pure-Go port), so the
# final image needs no libc. -buildvcs=false: the commit comes from the
# build argument (the build context usually has no .git).
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" \
      -o /out/wxfleet ./cmd/wxfleet \
 && mkdir -p /out/data \
 && printf 'wxfleet:x:10001:10001:wxfleet:/data:/sbin/nologin\n' > /out/passwd \
 && printf 'wxfleet:x:10001:\n' > /out/group

FROM scratch
# CA certificates for api.weixin.qq.com; time zones for Go's time package.
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/
COPY --from=build /usr/share/zoneinfo /usr/share/zoneinfo
COPY --from=build /out/passwd /etc/passwd
COPY --from=build /out/group /etc/group
COPY --from=build /out/wxfleet /usr/local/bin/wxfleet
# The data directory belongs to the unprivileged user before it becomes a
# volume, so a new named volume inherits that owner.
COPY --from=build --chown=10001:10001 /out/data /data
USER 10001:10001
ENV WXFLEET_DATA=/data \
    WXFLEET_ADDR=:8080
VOLUME ["/data"]
EXPOSE 8080
# serve stops taking pushes on SIGTERM, flushes the ingest journal and lets
# running jobs finish; give it the time (docker stop -t 30, compose
# stop_grace_period: 30s).
STOPSIGNAL SIGTERM
# No shell or curl in the image: the binary probes itself (GET /readyz on
# WXFLEET_ADDR).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/wxfleet", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/wxfleet"]
CMD ["serve"]
