#!/usr/bin/env bash
# Build the base image of deploy/Dockerfile from Debian's packages alone (no registry):
# debootstrap a minimal bookworm with Python 3.11, import it into podman (or docker).
#   sudo deploy/image-base.sh            -> localhost/debian-python:bookworm
# Then: podman build --build-arg BASE=localhost/debian-python:bookworm -f deploy/Dockerfile .
set -euo pipefail
TAG=${TAG:-localhost/debian-python:bookworm}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
ENGINE=${ENGINE:-$(command -v podman || command -v docker)}
if "$ENGINE" image exists "$TAG" 2>/dev/null; then echo "$TAG exists"; exit 0; fi
command -v debootstrap >/dev/null || { echo "apt-get install -y debootstrap podman" >&2; exit 1; }
root=$(mktemp -d /var/tmp/vault-base.XXXXXX)
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
  bookworm "$root" "$MIRROR" >/dev/null
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
tar -C "$root" -c . | "$ENGINE" import --change 'CMD ["python3"]' - "$TAG" >/dev/null
echo "built $TAG"
