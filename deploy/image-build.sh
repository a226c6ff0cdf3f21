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
"$ENGINE" build --network=host "${args[@]}" .

# Run it as production would (read-only root, tmpfs /tmp, non-root), on SQLite in its
# volume, and wait for /healthz and /readyz.
name=vault-image-check-$$
home=$(mktemp -d)
chmod 0777 "$home"
trap '"$ENGINE" rm -f "$name" >/dev/null 2>&1 || true; rm -rf "$home"' EXIT
"$ENGINE" run --rm --network=host --read-only --tmpfs /tmp -v "$home:/var/lib/archive-vault" \
  "$TAG" archive-vault init >/dev/null
"$ENGINE" run -d --name "$name" --network=host --read-only --tmpfs /tmp \
  -v "$home:/var/lib/archive-vault" -e VAULT_BIND=127.0.0.1:${PORT:-18080} -e VAULT_WORKERS=2 \
  "$TAG" >/dev/null
for _ in $(seq 1 60); do
  if curl -fsS "http://127.0.0.1:${PORT:-18080}/readyz" >/dev/null 2>&1; then break; fi
  sleep 1
done
curl -fsS "http://127.0.0.1:${PORT:-18080}/healthz"; echo
curl -fsS "http://127.0.0.1:${PORT:-18080}/readyz"; echo
[ "$("$ENGINE" exec "$name" id -u)" = 10001 ] && echo "runs as uid 10001"
echo "image $TAG: built, started read-only, healthy"
