#!/usr/bin/env bash
# crmd's container images (docs/operations.md, "Container image"), built with
# scripts/build-image --wa-web and checked without running a container: their configuration
# (entrypoint, user, exposed port, health check, environment), their root file systems run with
# chroot (crmd and crmctl start there and find every library, as the image's user too; in the
# wa-web image the sidecar starts on Node for each engine with no network, as the image's user,
# answers on its socket and exits on SIGTERM), and compose renderings that name them by tag and
# digest and still validate.
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
scripts/build-image --wa-web "$build"
ref=$(cat "$build/image/crmd.ref")
version=$("$build/runtime/crmd/crmd" --version | awk '{ print $2 }')
[[ $ref =~ ^localhost/crmd:$version@sha256:[0-9a-f]{64}$ ]] || fail "reference '$ref'"
b=(buildah --root "${CRM_IMAGE_STORE:-$build/image/storage}" --runroot "$build/image/run" --storage-driver vfs)

# The configuration, as compose and Kubernetes read it.
"${b[@]}" inspect --type image "$ref" > "$build/image/inspect.json"
# field NAME [IMAGE (crmd or crmd-wa-web)]: a field of the image's configuration as JSON.
field() {
  python3 -c 'import json, sys; print(json.dumps(json.load(open(sys.argv[1]))["Docker"]["config"].get(sys.argv[2]), separators=(",", ":")))' \
    "$build/image/inspect${2:+-$2}.json" "$1"
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
chroot --userspec=10001:10001 "$root" /usr/sbin/pgbouncer --version | grep -q PgBouncer ||
  fail "pgbouncer (the slices' pooler) in the image"
if missing=$(chroot "$root" /usr/bin/ldd /usr/bin/crmd /usr/bin/crmctl /usr/sbin/pgbouncer | grep "not found"); then
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
cleanup
trap 'rm -rf "$out"' EXIT

# The wa-web image: crmd's configuration, plus where the slice finds Node and the sidecar.
wa_ref=$(cat "$build/image/crmd-wa-web.ref")
[[ $wa_ref =~ ^localhost/crmd-wa-web:$version@sha256:[0-9a-f]{64}$ ]] || fail "wa-web reference '$wa_ref'"
"${b[@]}" inspect --type image "$wa_ref" > "$build/image/inspect-wa-web.json"
for f in Entrypoint Cmd User ExposedPorts Healthcheck WorkingDir; do
  [[ $(field "$f" wa-web) == "$(field "$f")" ]] || fail "wa-web image's $f $(field "$f" wa-web), crmd's $(field "$f")"
done
for e in CRM_NODE=/usr/bin/node CRM_WA_WEB_SIDECAR=/usr/share/crmd/wa-web/sidecar.mjs \
  CRM_WEB_ROOT=/usr/share/crmd/web CRM_DATA_DIR=/var/lib/crmd; do
  [[ $(field Env wa-web) == *"\"$e\""* ]] || fail "wa-web image's env lacks $e: $(field Env wa-web)"
done

container=$("${b[@]}" from --pull-never "$wa_ref")
trap 'cleanup; rm -rf "$out"' EXIT
root=$("${b[@]}" mount "$container")
[[ $(chroot --userspec=10001:10001 "$root" /usr/bin/crmd --version) == "crmd $version" ]] ||
  fail "crmd --version in the wa-web image"
node_version=$(chroot --userspec=10001:10001 "$root" /usr/bin/node --version) || fail "node in the wa-web image"
if missing=$(chroot "$root" /usr/bin/ldd /usr/bin/crmd /usr/bin/node /usr/lib/chromium/chromium | grep "not found"); then
  fail "libraries missing in the wa-web image: $missing"
fi
sidecar=$root/usr/share/crmd/wa-web
for f in sidecar.mjs package.json lib/session.mjs engines/noweb.mjs engines/webjs.mjs \
  node_modules/baileys/package.json node_modules/whatsapp-web.js/package.json; do
  [[ -s $sidecar/$f ]] || fail "no $f in /usr/share/crmd/wa-web"
done
[[ ! -e $sidecar/test ]] || fail "the sidecar's tests are in the image"
[[ -z $(find "$sidecar" ! -user 0 -print -quit) ]] || fail "a sidecar file not owned by root"
[[ -z $(find "$sidecar" ! -type l -perm -o+w -print -quit) ]] || fail "a sidecar file writable by others"
# No browser that puppeteer would have downloaded: webjs runs Debian's.
[[ -z $(find "$root" -xdev -path '*/.cache/puppeteer' -print -quit) ]] || fail "puppeteer's browser in the image"

# in_image ARG...: ARG... in the wa-web image's root as its user, as a container runtime would
# start it: the root by pivot_root in a mount namespace of its own (under chroot the kernel
# refuses the user namespaces chromium's sandbox makes), /proc, a /dev of its own (null, zero,
# random, urandom; /dev/shm a tmpfs), and a network namespace with only the loopback (chromium
# talks to puppeteer over it): no network. Replaces the calling shell, so `in_image … &` leaves $!
# the process itself.
in_image() {
  # shellcheck disable=SC2016 # the inner script expands its own arguments
  exec unshare --mount --net sh -c 'r=$0
    mount --bind "$r" "$r" && mount -t proc proc "$r/proc" &&
      mount -t tmpfs -o mode=0755 dev "$r/dev" || exit 1
    for n in null zero random urandom; do
      touch "$r/dev/$n" && mount --bind "/dev/$n" "$r/dev/$n" || exit 1
    done
    mkdir "$r/dev/shm" && mount -t tmpfs -o mode=1777 shm "$r/dev/shm" && ip link set lo up &&
      mkdir -p "$r/.old" && cd "$r" && pivot_root . .old && cd / && umount -l /.old && rmdir /.old &&
      exec /usr/bin/setpriv --reuid=10001 --regid=10001 --clear-groups \
        env -i HOME=/var/lib/crmd PATH=/usr/bin:/bin "$@"' "$root" "$@"
}
chromium_version=$(in_image /usr/bin/chromium --version) || fail "chromium --version in the wa-web image"
sidecar_pid=
trap '[[ -z $sidecar_pid ]] || kill -KILL "$sidecar_pid" 2> /dev/null; cleanup; rm -rf "$out"' EXIT

# Each engine's sidecar as the slice starts it: hello answers `connecting`, the first attempt
# fails for want of network (so the engine's library really ran: Baileys' WebSocket, chromium
# loading WhatsApp Web), and SIGTERM ends it with status 0.
for engine in noweb webjs; do
  dir=/var/lib/crmd/probe-$engine
  install -d -o 10001 -g 10001 -m 0700 "$root$dir"
  in_image /usr/bin/node /usr/share/crmd/wa-web/sidecar.mjs --socket "$dir/wa-web.sock" \
    --auth "$dir/auth" --engine "$engine" > /dev/null 2> "$out/sidecar-$engine.log" &
  pid=$!
  sidecar_pid=$pid
  python3 "$src/tests/image/wa_web_probe.py" "$root$dir/wa-web.sock" 60 > "$out/probe-$engine.json" ||
    fail "engine $engine: no hello and backoff: $(cat "$out/sidecar-$engine.log")"
  python3 - "$out/probe-$engine.json" "$engine" << 'PY' || fail "engine $engine: $(cat "$out/probe-$engine.json")"
import json, re, sys
p, engine = json.load(open(sys.argv[1])), sys.argv[2]
h, b = p["hello"], p["backoff"]
assert h["ok"] and h["engine"] == engine and h["state"] == "connecting", h
net = {"noweb": r"ENOTFOUND|EAI_AGAIN|ENETUNREACH|ECONNREFUSED", "webjs": r"ERR_INTERNET_DISCONNECTED|ERR_NAME_NOT_RESOLVED|ERR_ADDRESS_UNREACHABLE"}
assert b["state"] == "connecting" and re.search(net[engine], b["detail"]), b
PY
  kill -TERM "$pid"
  status=0
  wait "$pid" || status=$?
  sidecar_pid=
  ((status == 0)) || fail "engine $engine: exit status $status after SIGTERM: $(cat "$out/sidecar-$engine.log")"
  grep -q "SIGTERM, closing the session" "$out/sidecar-$engine.log" || fail "engine $engine: no SIGTERM in its log"
  ! pgrep -f "$dir/" > /dev/null || fail "engine $engine: a process of the sidecar (chromium?) outlived it"
  rm -rf "${root:?}$dir"
done

# Compose with a wa-web engine runs crmd from the wa-web image; the rendering still validates.
"$build/cli/crmctl" render --customers 40 --engine noweb --target compose --image "$ref" \
  --wa-web-image "$wa_ref" --out "$out/noweb" > /dev/null
grep -q "image: $wa_ref" "$out/noweb/docker-compose.yml" || fail "compose (noweb) does not name $wa_ref"
"$build/cli/crmctl" validate "$out/noweb" > /dev/null || fail "crmctl validate on the noweb compose rendering"
echo "image test: $ref and $wa_ref ok (node $node_version, $chromium_version)"
