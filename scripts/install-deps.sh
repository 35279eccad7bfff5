#!/usr/bin/env bash
# Install the Debian packages the tests need when they are missing, so a fresh
# machine runs `make test` with no manual step. Quiet, non-interactive, and it
# skips apt entirely when everything is installed.
#
# usage: scripts/install-deps.sh [package...]
#   default packages: redis-server mosquitto mosquitto-clients openssl (the
#   test stack makes certificates for its TLS servers with it)
# Also installs the Python Kafka client the schemas/ consumer example uses.
set -euo pipefail

# python_deps installs kafka-python (the client schemas/examples/consume.py
# is written for) unless python3 can already import it.
python_deps() {
	command -v python3 >/dev/null || return 0
	python3 -c 'import kafka' 2>/dev/null && return 0
	echo "deps: installing kafka-python with pip"
	python3 -m pip install --quiet --disable-pip-version-check kafka-python==3.0.12 ||
		{ echo "deps: pip install kafka-python failed" >&2; return 1; }
}
python_deps

packages=("$@")
((${#packages[@]})) || packages=(redis-server mosquitto mosquitto-clients openssl)

installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

missing=()
for p in "${packages[@]}"; do
	installed "$p" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
	echo "deps: ${packages[*]} already installed"
	exit 0
fi

command -v apt-get >/dev/null || {
	echo "deps: missing ${missing[*]} and apt-get is not available: install them by hand" >&2
	exit 1
}
sudo=()
if ((EUID != 0)); then
	command -v sudo >/dev/null || {
		echo "deps: missing ${missing[*]}: run as root or install sudo" >&2
		exit 1
	}
	sudo=(sudo)
fi

log=$(mktemp "${TMPDIR:-/tmp}/tidemark-apt.XXXXXX")
echo "deps: installing ${missing[*]} with apt-get (log: $log)"
export DEBIAN_FRONTEND=noninteractive
if ! "${sudo[@]}" apt-get update -q >"$log" 2>&1 ||
	! "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$log" 2>&1; then
	tail -n 20 "$log" >&2
	echo "deps: apt-get failed (log: $log)" >&2
	exit 1
fi
rm -f "$log"
echo "deps: installed ${missing[*]}"
