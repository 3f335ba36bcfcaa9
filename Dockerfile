# syntax=docker/dockerfile:1
# nfsprov: one image for the controller, the node plugin and lockd (`nfsprov <subcommand>`).
#
#   docker build -t nfsprov:0.1.0 .
#
# Both stages are Debian 12 (bookworm), and the packages each installs come from
# hack/packages.txt through hack/install-deps.sh: [build] here, [runtime] in the image.
ARG DEBIAN_IMAGE=debian:12-slim

# ---- build ------------------------------------------------------------------------------------
FROM ${DEBIAN_IMAGE} AS build
WORKDIR /src
# The package list first, so that the dependency layer is rebuilt only when it changes.
COPY hack/install-deps.sh hack/packages.txt hack/
RUN bash hack/install-deps.sh build && rm -rf /var/lib/apt/lists/*
COPY . .
# RelWithDebInfo: the optimisation level `make build` and the tests use. Only the nfsprov target
# (BUILD_TESTING=OFF: no tests, benchmarks or test dependencies). The debug info is split off
# into /out/nfsprov.debug (kept in this stage, for `docker build --target build`), the image
# gets the stripped binary.
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF >/dev/null \
 && cmake --build /build --target nfsprov -j"$(nproc)" \
 && mkdir -p /out \
 && objcopy --only-keep-debug /build/provisioner/nfsprov /out/nfsprov.debug \
 && strip --strip-unneeded -o /out/nfsprov /build/provisioner/nfsprov \
 && objcopy --add-gnu-debuglink=/out/nfsprov.debug /out/nfsprov

# ---- runtime ----------------------------------------------------------------------------------
FROM ${DEBIAN_IMAGE}
# [runtime]: the shared libraries nfsprov loads, mount and nfs-common (kernel mounter), fuse3
# (FUSE mounter), ca-certificates. Nothing else.
COPY hack/install-deps.sh hack/packages.txt /tmp/deps/
RUN bash /tmp/deps/install-deps.sh runtime \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb /tmp/deps
COPY --from=build /out/nfsprov /usr/local/bin/nfsprov
# Fails the build when [runtime] misses a library the binary needs.
RUN if ldd /usr/local/bin/nfsprov | grep 'not found'; then \
      echo 'hack/packages.txt [runtime] lacks the package of a library above' >&2; exit 1; \
    fi \
 && nfsprov version
# The node plugin runs privileged as root (it mounts); the controller and lockd run without
# capabilities but as uid 0, which NFS AUTH_SYS shows the server (deploy/base).
ENTRYPOINT ["/usr/local/bin/nfsprov"]
CMD ["--help"]
