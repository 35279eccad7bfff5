#!/usr/bin/env bash
# Builds the OCI images of the services without Docker, behind `make images`:
# ko compiles each binary (static, CGO off) and layers it on a base image,
# writing one image tarball per service to bin/images/<name>.tar (docker
# archive format: `docker load`, `crane push`, `skopeo copy docker-archive:`
# read it).
#
# The base. ko's default base (cgr.dev/chainguard/static) lives in a registry
# that may be out of reach. Unless IMAGE_BASE names a reachable base, this
# script makes its own: one layer with the CA bundle of the Debian
# ca-certificates package (/etc/ssl/certs/ca-certificates.crt), /etc/passwd
# and /etc/group with the non-root user nonroot (65532), and /tmp; config
# User 65532:65532. ko only pulls bases from a registry, so the base is pushed
# to a throwaway in-memory registry (`crane registry serve`) on loopback for
# the duration of the build. The same registry then checks every tarball:
# it must load, run as 65532 and start the service binary.
#
# usage: scripts/images.sh          build every image
#        scripts/images.sh --list   print the image repositories, one a line
#
# Environment (defaults in brackets):
#   IMAGE_REPO [ghcr.io/tidemarkmq]  repository prefix (KO_DOCKER_REPO); images are IMAGE_REPO/<name>
#   IMAGE_TAG [git describe, else dev]  tag of every image
#   IMAGE_BASE [empty: build the local base]  a registry base instead, e.g. cgr.dev/chainguard/static
#   IMAGE_PLATFORM [linux/amd64]  target platform(s), comma separated (needs a base that has them)
#   IMAGES_OUT [bin/images]  output directory
#   KO_VERSION [v0.19.1] CRANE_VERSION [v0.22.1]  tool versions, installed with `go install` into .cache/tools
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

# name=package directory, one image each. The Kubernetes manifests refer to
# IMAGE_REPO/<name>; the offline validation (deployments/validate) checks them
# against `--list`.
IMAGES=(
	mqtt-frontend=services/frontend/cmd/mqtt-frontend
	mqtt-sessiond=services/sessiond/cmd/mqtt-sessiond
	mqtt-standalone=services/standalone/cmd/mqtt-standalone
)

IMAGE_REPO=${IMAGE_REPO:-ghcr.io/tidemarkmq}
IMAGE_PLATFORM=${IMAGE_PLATFORM:-linux/amd64}
IMAGES_OUT=${IMAGES_OUT:-$ROOT/bin/images}
IMAGE_BASE=${IMAGE_BASE:-}
KO_VERSION=${KO_VERSION:-v0.19.1}
CRANE_VERSION=${CRANE_VERSION:-v0.22.1}
TOOLS=${TIDEMARK_TOOLS_DIR:-$ROOT/.cache/tools}
NONROOT=65532

if [[ ${1:-} == --list ]]; then
	for i in "${IMAGES[@]}"; do
		printf '%s/%s\n' "$IMAGE_REPO" "${i%%=*}"
	done
	exit 0
elif (($#)); then
	echo "usage: scripts/images.sh [--list]" >&2
	exit 2
fi

fail() {
	printf 'images: %s\n' "$*" >&2
	exit 1
}

if [[ -z ${IMAGE_TAG:-} ]]; then
	IMAGE_TAG=$(git describe --tags --always --dirty 2>/dev/null || echo dev)
fi

# tool NAME PACKAGE VERSION: path of the binary, installed once per version.
tool() {
	local bin="$TOOLS/$1-$3"
	if [[ ! -x $bin ]]; then
		echo "images: installing $2@$3" >&2
		local tmp
		tmp=$(mktemp -d)
		GOBIN="$tmp" go install "$2@$3" >&2 || fail "go install $2@$3 failed"
		mkdir -p "$TOOLS"
		mv "$tmp/$1" "$bin"
		rmdir "$tmp"
	fi
	printf '%s\n' "$bin"
}
KO=$(tool ko github.com/google/ko "$KO_VERSION")
CRANE=$(tool crane github.com/google/go-containerregistry/cmd/crane "$CRANE_VERSION")

WORK=$(mktemp -d)
REGISTRY_PID=
cleanup() {
	if [[ -n $REGISTRY_PID ]]; then
		kill "$REGISTRY_PID" 2>/dev/null || true
		wait "$REGISTRY_PID" 2>/dev/null || true
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT

# A registry on a free loopback port, in memory: gone when the script ends.
"$CRANE" registry serve --address 127.0.0.1:0 >"$WORK/registry.log" 2>&1 &
REGISTRY_PID=$!
port=
for _ in $(seq 100); do
	port=$(sed -n 's/.*serving on port \([0-9]*\).*/\1/p' "$WORK/registry.log")
	[[ -n $port ]] && break
	kill -0 "$REGISTRY_PID" 2>/dev/null || break
	sleep 0.1
done
[[ -n $port ]] || fail "local registry did not start: $(cat "$WORK/registry.log")"
LOCAL=127.0.0.1:$port

if [[ -z $IMAGE_BASE ]]; then
	CA=/etc/ssl/certs/ca-certificates.crt
	[[ -s $CA ]] || fail "$CA missing: install the Debian package ca-certificates"
	# The layer is written by Python's tarfile so that owners and modes are
	# exact without root, and the timestamps fixed for a reproducible digest.
	python3 - "$CA" "$WORK/base.tar" "$NONROOT" <<'PY'
import io, sys, tarfile
ca, out, uid = sys.argv[1], sys.argv[2], int(sys.argv[3])
def add(tf, name, mode, data=None, owner=0):
    ti = tarfile.TarInfo(name)
    ti.mtime, ti.uid, ti.gid, ti.mode = 0, owner, owner, mode
    if data is None:
        ti.type = tarfile.DIRTYPE
        tf.addfile(ti)
    else:
        ti.size = len(data)
        tf.addfile(ti, io.BytesIO(data))
with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tf:
    for d in ("etc", "etc/ssl", "etc/ssl/certs", "home"):
        add(tf, d, 0o755)
    add(tf, "home/nonroot", 0o700, owner=uid)
    add(tf, "tmp", 0o1777)
    add(tf, "etc/passwd", 0o644, (
        "root:x:0:0:root:/root:/sbin/nologin\n"
        f"nonroot:x:{uid}:{uid}:nonroot:/home/nonroot:/sbin/nologin\n").encode())
    add(tf, "etc/group", 0o644, f"root:x:0:\nnonroot:x:{uid}:\n".encode())
    add(tf, "etc/ssl/certs/ca-certificates.crt", 0o644, open(ca, "rb").read())
PY
	{
		"$CRANE" append --oci-empty-base -f "$WORK/base.tar" -t "$LOCAL/tidemark/base:build" &&
			"$CRANE" mutate "$LOCAL/tidemark/base:build" -t "$LOCAL/tidemark/base:build" \
				--set-platform "${IMAGE_PLATFORM%%,*}" --user "$NONROOT:$NONROOT" --workdir /home/nonroot \
				-e SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
	} >"$WORK/base.log" 2>&1 || fail "base image: $(cat "$WORK/base.log")"
	IMAGE_BASE=$LOCAL/tidemark/base:build
	echo "images: base $IMAGE_BASE (CA certificates from $CA, user $NONROOT)"
fi

mkdir -p "$IMAGES_OUT"
built=()
for i in "${IMAGES[@]}"; do
	name=${i%%=*}
	dir=${i#*=}
	[[ -d $dir ]] || fail "$dir does not exist"
	out="$IMAGES_OUT/$name.tar"
	rm -f "$out"
	echo "images: building $IMAGE_REPO/$name:$IMAGE_TAG from $dir"
	# ko runs go in the binary's module (go.work applies), names the image
	# after the last path element (--base-import-paths) and writes a tarball
	# instead of pushing.
	(
		cd "$(dirname "$(dirname "$dir")")"
		KO_DOCKER_REPO=$IMAGE_REPO KO_DEFAULTBASEIMAGE=$IMAGE_BASE \
			"$KO" build "./cmd/$name" --base-import-paths --push=false --tarball="$out" \
			--tags="$IMAGE_TAG" --platform="$IMAGE_PLATFORM" --sbom=none
	) >"$WORK/ko-$name.log" 2>&1 || { cat "$WORK/ko-$name.log" >&2; fail "ko build $name failed"; }

	# The check: the tarball loads into a registry, and its config runs the
	# binary as the non-root user.
	"$CRANE" push "$out" "$LOCAL/check/$name:$IMAGE_TAG" >/dev/null 2>"$WORK/push.log" ||
		fail "$out is not a loadable image archive: $(cat "$WORK/push.log")"
	"$CRANE" config "$LOCAL/check/$name:$IMAGE_TAG" | python3 -c '
import json, sys
name, uid = sys.argv[1], sys.argv[2]
c = json.load(sys.stdin)["config"]
user, entry = c.get("User", ""), c.get("Entrypoint") or []
if user.split(":")[0] not in (uid, "nonroot"):
    sys.exit(f"{name}: runs as user {user!r}, want {uid}")
if entry != ["/ko-app/" + name]:
    sys.exit(f"{name}: entrypoint {entry}, want /ko-app/{name}")
print(f"images: {name}: user {user}, entrypoint {entry[0]}")
' "$name" "$NONROOT" || fail "$out failed the check"
	built+=("$out")
done
echo "images: wrote ${built[*]}"
