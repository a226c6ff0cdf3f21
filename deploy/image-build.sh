#!/usr/bin/env bash
# Build the vault's image with podman (or docker) from the repository root, on a base made
# locally (deploy/image-base.sh) when no registry is reachable, then run it once and check
# its health probes. Usage: deploy/image-build.sh [TAG]   (make image)
set -euo pipefail
cd "$(dirname "$0")/.."
TAG=${1:-localhost/archive-vault:latest}
ENGINE=${ENGINE:-$(command -v podman || command -v docker)}
BASE=${BASE:-localhost/debian-python:bookworm}
[ "$BASE" != localhost/debian-python:bookworm ] || deploy/image-base.sh
args=(--build-arg "BASE=$BASE" -f deploy/Dockerfile -t "$TAG")
# Behind a TLS-inspecting proxy pip needs the machine's CA bundle inside the build.
if [ -n "${PIP_CERT:-}" ] && [ -f "$PIP_CERT" ]; then
  args+=(--build-arg "PIP_CERT=/run/host-ca.crt" -v "$PIP_CERT:/run/host-ca.crt:ro")
fi
# podman keeps the HEALTHCHECK only in the docker image format.
[[ "$ENGINE" != *podman ]] || args+=(--format docker ${ISOLATION:+--isolation "$ISOLATION"})
[ -n "${SKIP_BUILD:-}" ] || "$ENGINE" build --network=host "${args[@]}" .

# Run it as production would (read-only root, tmpfs /tmp, uid 10001), on SQLite in its
# volume, and wait for /healthz and /readyz. With an OCI runtime: `run --read-only`.
# Where none works (a sandbox that refuses setrlimit, as this project's CI machine does),
# RUNNER=chroot runs the image's own filesystem, mounted read-only, under chroot.
PORT=${PORT:-18080}
home=$(mktemp -d)
chmod 0777 "$home"
name=vault-image-check-$$
cleanup() {
  "$ENGINE" rm -f "$name" >/dev/null 2>&1 || true
  if [ -n "${root:-}" ]; then
    if [ -n "${pid:-}" ]; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    fi
    umount "$root/var/lib/archive-vault" "$root/tmp" "$root/dev" "$root/proc" "$root" 2>/dev/null || true
    rmdir "$root" 2>/dev/null || true
    "$ENGINE" image unmount "$TAG" >/dev/null 2>&1 || true
  fi
  rm -rf "$home"
}
trap cleanup EXIT
if [ "${RUNNER:-}" != chroot ] && "$ENGINE" run --rm "$TAG" true 2>/dev/null; then
  "$ENGINE" run --rm --network=host --read-only --tmpfs /tmp -v "$home:/var/lib/archive-vault" \
    "$TAG" archive-vault init >/dev/null
  "$ENGINE" run -d --name "$name" --network=host --read-only --tmpfs /tmp \
    -v "$home:/var/lib/archive-vault" -e VAULT_BIND=127.0.0.1:$PORT -e VAULT_WORKERS=2 \
    "$TAG" >/dev/null
  uid=$("$ENGINE" exec "$name" id -u)
  how="$ENGINE run --read-only"
else
  CHROOT=$(command -v chroot)
  image=$("$ENGINE" image mount "$TAG")
  root=$(mktemp -d)
  mount --bind "$image" "$root" && mount -o remount,bind,ro "$root"
  mount -t tmpfs tmpfs "$root/tmp"
  mount --bind /dev "$root/dev"
  mount -t proc proc "$root/proc"
  mount --bind "$home" "$root/var/lib/archive-vault"
  touch "$root/should-fail" 2>/dev/null && { echo "root filesystem is writable" >&2; exit 1; }
  in_image=(env -i PATH=/opt/venv/bin:/usr/bin:/bin VAULT_HOME=/var/lib/archive-vault HOME=/tmp
    PROMETHEUS_MULTIPROC_DIR=/tmp/vault-metrics VAULT_BIND=127.0.0.1:$PORT VAULT_WORKERS=2
    "$CHROOT" --userspec=10001:10001 "$root")
  "${in_image[@]}" archive-vault init >/dev/null
  # env execs chroot, which execs gunicorn: $! is the gunicorn master (stopped on exit).
  "${in_image[@]}" gunicorn --config /etc/archive-vault/gunicorn.conf.py >"${LOG:-/dev/null}" 2>&1 &
  pid=$!
  uid=$("${in_image[@]}" id -u)
  how="chroot into the image, root filesystem read-only"
fi
for _ in $(seq 1 60); do
  curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
  sleep 1
done
curl -fsS "http://127.0.0.1:$PORT/healthz"; echo
curl -fsS "http://127.0.0.1:$PORT/readyz"; echo
[ "$uid" = 10001 ]
echo "image $TAG: built; started ($how) as uid $uid; /healthz and /readyz answer"
