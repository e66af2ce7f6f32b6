#!/usr/bin/env bash
# crmd's container image (docs/operations.md, "Container image"), built with scripts/build-image
# and checked without running a container: its configuration (entrypoint, user, exposed port,
# health check), its root file system run with chroot (crmd and crmctl start there and find every
# library, as the image's user too), and a compose rendering that names it by tag and digest and
# still validates.
# Usage: image_test.sh BUILD_DIR SOURCE_DIR. Exit 77 (skipped) when not root.
set -euo pipefail
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
((EUID == 0)) || { echo "image test: needs root (buildah's storage, chroot); skipped"; exit 77; }

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
cd "$src"
scripts/build-image "$build"
ref=$(cat "$build/image/crmd.ref")
version=$("$build/runtime/crmd/crmd" --version | awk '{ print $2 }')
[[ $ref =~ ^localhost/crmd:$version@sha256:[0-9a-f]{64}$ ]] || fail "reference '$ref'"
b=(buildah --root "${CRM_IMAGE_STORE:-$build/image/storage}" --runroot "$build/image/run" --storage-driver vfs)

# The configuration, as compose and Kubernetes read it.
"${b[@]}" inspect --type image "$ref" > "$build/image/inspect.json"
field() {
  python3 -c 'import json, sys; print(json.dumps(json.load(open(sys.argv[1]))["Docker"]["config"].get(sys.argv[2]), separators=(",", ":")))' \
    "$build/image/inspect.json" "$1"
}
[[ $(field Entrypoint) == '["/usr/bin/crmd"]' ]] || fail "entrypoint $(field Entrypoint)"
[[ $(field Cmd) == '["--role","all"]' ]] || fail "cmd $(field Cmd)"
[[ $(field User) == '"10001:10001"' ]] || fail "user $(field User)"
[[ $(field ExposedPorts) == '{"8080/tcp":{}}' ]] || fail "ports $(field ExposedPorts)"
[[ $(field Healthcheck) == *'"Test":["CMD","curl","-fsS","http://127.0.0.1:8080/health"]'* ]] ||
  fail "healthcheck $(field Healthcheck)"
[[ $(field Env) == *'"CRM_WEB_ROOT=/usr/share/crmd/web"'* ]] || fail "env $(field Env)"

# The root file system: what the entrypoint would run, run with chroot.
container=$("${b[@]}" from --pull-never "$ref")
cleanup() {
  "${b[@]}" umount "$container" > /dev/null 2>&1 || true
  "${b[@]}" rm "$container" > /dev/null 2>&1 || true
}
trap cleanup EXIT
root=$("${b[@]}" mount "$container")
[[ $(chroot "$root" /usr/bin/crmd --version) == "crmd $version" ]] || fail "crmd --version in the image"
[[ $(chroot --userspec=10001:10001 "$root" /usr/bin/crmd --version) == "crmd $version" ]] ||
  fail "crmd --version as the image's user"
chroot "$root" /usr/bin/crmctl --version | grep -q "$version" || fail "crmctl --version in the image"
chroot "$root" /usr/bin/curl --version > /dev/null || fail "curl (the health check) in the image"
if missing=$(chroot "$root" /usr/bin/ldd /usr/bin/crmd /usr/bin/crmctl | grep "not found"); then
  fail "libraries missing in the image: $missing"
fi
grep -q '^crmd:x:10001:10001:' "$root/etc/passwd" || fail "no user crmd (10001) in the image"
[[ $(stat -c %u "$root/var/lib/crmd") == 10001 ]] || fail "/var/lib/crmd not owned by crmd"
[[ -s $root/usr/share/crmd/web/index.html ]] || fail "no web app in the image"

# Compose names the image as built; the rendering still validates.
out=$(mktemp -d)
trap 'cleanup; rm -rf "$out"' EXIT
"$build/cli/crmctl" render --tier 2 --target compose --image "$ref" --out "$out/compose" > /dev/null
grep -q "image: $ref" "$out/compose/docker-compose.yml" || fail "compose does not name $ref"
"$build/cli/crmctl" validate "$out/compose" > /dev/null || fail "crmctl validate on the compose rendering"
"$build/cli/crmctl" render --tier 2 --target compose --image crmd:latest --out "$out/latest" 2> "$out/err" &&
  fail "--image crmd:latest accepted"
grep -q "latest" "$out/err" || fail "no reason given for refusing latest: $(cat "$out/err")"
echo "image test: $ref ok"
