#!/usr/bin/env bash
# crmctl render and validate: determinism, modes, golden files, and one deliberately broken
# configuration per structural rule and per real tool, each of which must fail validation.
source "$(dirname "$0")/lib.sh"

# Render: usage errors.
run render --tier 1 --target k8s --out "$TMP/x";  expect_code 2; expect_err "k8s does not fit tier 1 (Start, single topology); use vps, compose"
run render --tier 9 --target vps --out "$TMP/x";  expect_code 2; expect_err "no tier 9"
run render --tier 1 --target helm --out "$TMP/x"; expect_code 2; expect_err "unknown 'helm'"
run render --tier 1 --target vps;                 expect_code 2; expect_err "--out: required"
run render --target vps --out "$TMP/x";           expect_code 2; expect_err "pass --tier N"

# Determinism and golden files.
run render --tier 1 --target vps --out "$TMP/a";  expect_code 0; expect_out "Rendered tier 1 (Start) for vps"
run render --tier 1 --target vps --out "$TMP/b";  expect_code 0
checks=$((checks + 1)); diff -r "$TMP/a" "$TMP/b" >/dev/null || fail "two renderings of the same plan differ"
for spec in "1 vps" "2 compose" "3 multi" "4 multi" "5 k8s"; do
  set -- $spec
  run render --tier "$1" --target "$2" --out "$TMP/g-$1-$2"; expect_code 0
  checks=$((checks + 1))
  diff -r "$SRC/tests/golden/render/tier$1-$2" "$TMP/g-$1-$2" >"$TMP/diff" ||
    fail "tier $1 $2 differs from tests/golden/render (scripts/update-golden regenerates): $(head -30 "$TMP/diff")"
done
run render --customers 40 --engine noweb --target compose --out "$TMP/g-noweb-compose"; expect_code 0
run render --customers 3000 --engine webjs --target k8s --out "$TMP/g-webjs-k8s"; expect_code 0
for name in noweb-compose webjs-k8s; do
  checks=$((checks + 1))
  diff -r "$SRC/tests/golden/render/$name" "$TMP/g-$name" >"$TMP/diff" ||
    fail "$name differs from tests/golden/render (scripts/update-golden regenerates): $(head -30 "$TMP/diff")"
done

# A wa-web engine's slices run from the wa-web image (--wa-web-image); the k8s gateway keeps crmd's.
digest=sha256:$(printf '%064d' 7)
run render --customers 3000 --engine webjs --target k8s --out "$TMP/wa-k8s" \
  --image "reg.example.com/crmd:0.1.0@$digest" --wa-web-image "reg.example.com/crmd-wa-web:0.1.0@$digest"
expect_code 0
checks=$((checks + 1)); grep -q "image: reg.example.com/crmd-wa-web:0.1.0@$digest$" "$TMP/wa-k8s/main/slice-hosts.yaml" || fail "k8s slice hosts do not run the wa-web image"
checks=$((checks + 1)); grep -q "image: reg.example.com/crmd:0.1.0@$digest$" "$TMP/wa-k8s/main/gateway.yaml" || fail "the k8s gateway does not keep crmd's image"
run render --customers 40 --engine noweb --target compose --out "$TMP/wa-compose"; expect_code 0
expect_err "engine noweb runs its slices from the wa-web image, named by its tag only (crmd-wa-web:0.1.0)"
checks=$((checks + 1)); [[ $ERR != *"the crmd image is named"* ]] || fail "compose with a wa-web engine warns about the unused crmd image"
run render --customers 40 --engine noweb --target compose --out "$TMP/wa-latest" --wa-web-image crmd-wa-web:latest
expect_code 2; expect_err "--wa-web-image: 'crmd-wa-web:latest': the tag \`latest\` moves"
checks=$((checks + 1)); ! grep -q 'crmd-wa-web' "$TMP/g-2-compose/docker-compose.yml" || fail "a whatsmeow compose names the wa-web image"
checks=$((checks + 1)); [[ $(stat -c %a "$TMP/a/etc/crmd/crmd.env") == 600 ]] || fail "crmd.env is not 0600"
checks=$((checks + 1)); [[ $(stat -c %a "$TMP/a/install.sh") == 755 ]] || fail "install.sh is not 0755"
run render --tier 1 --target vps --out "$TMP/a";  expect_code 2; expect_err "is not empty; pass --force"
run render --tier 2 --target vps --out "$TMP/a" --force; expect_code 0
mkdir -p "$TMP/foreign"; echo keep >"$TMP/foreign/notes.txt"
run render --tier 1 --target vps --out "$TMP/foreign" --force; expect_code 2; expect_err "refusing to empty it"
checks=$((checks + 1)); [[ -f $TMP/foreign/notes.txt ]] || fail "render --force deleted a foreign directory's file"

# A plan written by `plan -o yaml` (or json) renders the same as its workload.
"$CRMCTL" plan --customers 40 --engine noweb -o yaml >"$TMP/plan.yaml"
run render -f "$TMP/plan.yaml" --target vps --out "$TMP/from-plan"; expect_code 0
run render --customers 40 --engine noweb --target vps --out "$TMP/from-flags"; expect_code 0
checks=$((checks + 1)); diff -r "$TMP/from-plan" "$TMP/from-flags" >/dev/null || fail "render -f plan.yaml differs from the same workload's flags"

# A webjs workload puts its memory into the units.
run render --customers 10 --engine webjs --target vps --out "$TMP/webjs"; expect_code 0
checks=$((checks + 1)); grep -q '^MemoryMax=11264M$' "$TMP/webjs/etc/systemd/system/crmd.service" || fail "webjs MemoryMax"
checks=$((checks + 1)); grep -q '^SLICE_MEMORY_LIMIT=1024000000$' "$TMP/webjs/etc/crmd/crmd.env" || fail "webjs SLICE_MEMORY_LIMIT (2 × 512 MB)"
checks=$((checks + 1)); grep -q '^CRM_SLICE_CPU_LIMIT=1$' "$TMP/webjs/etc/crmd/crmd.env" || fail "webjs CRM_SLICE_CPU_LIMIT (2 × 0.5)"

# WhatsApp Web engines install Node, the sidecar's path and (webjs) chromium; the others nothing.
checks=$((checks + 1)); grep -q '^apt-get install -y -qq nodejs chromium$' "$TMP/webjs/install.sh" || fail "webjs install.sh installs no nodejs chromium"
checks=$((checks + 1)); grep -q '^CRM_WA_WEB_SIDECAR=/usr/share/crmd/wa-web/sidecar.mjs$' "$TMP/webjs/etc/crmd/crmd.env" || fail "webjs crmd.env names no sidecar"
checks=$((checks + 1)); sh -n "$TMP/webjs/install.sh" || fail "webjs install.sh is not valid sh"
checks=$((checks + 1)); grep -q 'engine noweb needs Node >= 18' "$TMP/from-flags/install.sh" || fail "noweb install.sh does not refuse Node < 18"
checks=$((checks + 1)); ! grep -q 'chromium' "$TMP/from-flags/install.sh" || fail "noweb install.sh installs chromium"
checks=$((checks + 1)); ! grep -rq 'nodejs\|chromium\|wa-web' "$TMP/a" || fail "a whatsmeow rendering installs Node, chromium or the sidecar"
run validate --require-tools "$TMP/webjs"; expect_code 0; expect_out "0 finding(s)"

# Clean renderings validate with every tool present.
run validate --require-tools "$TMP/b" "$TMP/g-2-compose" "$TMP/g-4-multi"; expect_code 0; expect_out "0 finding(s)"
expect_out "promtool check rules     passed"
# A relative directory too: the tools run elsewhere (docker-compose in the file's directory).
pushd "$TMP" > /dev/null
run validate --require-tools g-2-compose g-4-multi
popd > /dev/null
expect_code 0; expect_out "0 finding(s)"; expect_out "docker-compose config    passed"
run validate -o json "$TMP/b"; expect_code 0
expect_json "d[0]['findings'] == [] and any(t['tool'] == 'postgres -C' and t['status'] == 'passed' for t in d[0]['tools'])"
run validate;                                     expect_code 2; expect_err "pass rendered directories"
run validate "$TMP/nope";                         expect_code 2; expect_err "not a directory"

# break NAME RULE SED-EXPR FILE: copy the clean tier-1 rendering, apply the edit, expect RULE.
break_one() {
  local name=$1 rule=$2 file=$3; shift 3
  rm -rf "$TMP/broken-$name"; cp -a "$TMP/b" "$TMP/broken-$name"
  "$@" "$TMP/broken-$name/$file"
  run validate "$TMP/broken-$name"
  expect_code 1; expect_out "$rule"
}
sedit() { local expr=$1; shift; sed -i "$expr" "$@"; }
append() { local line=$1; shift; printf '%s\n' "$line" >>"$1"; }

break_one memory  "resources-fit-host: host vps"          etc/systemd/system/crmd.service sedit 's/^MemoryMax=.*/MemoryMax=64G/'
break_one cpu     "CPUQuota=900% but host vps has 2 vCPU"   etc/systemd/system/crmd.service sedit 's/^CPUQuota=.*/CPUQuota=900%/'
break_one port    "unique-ports: port 8080 on host vps"     etc/postgresql/15/main/conf.d/crm.conf sedit 's/^port = .*/port = 8080/'
break_one secret  "no-inline-secret"                        etc/crmd/crmd.env append 'CRM_STRIPE_SECRET_KEY=sk_live_51Habcdefghijklmnop'
break_one urlpass "a password inside a database URL"        etc/crmd/crmd.env sedit 's|postgresql://crm@|postgresql://crm:hunter2@|'
break_one knob    "knobs-set: DB_MAX_OPEN_CONNS is not set" etc/crmd/crmd.env sedit '/^DB_MAX_OPEN_CONNS=/d'
break_one range   "knobs-in-range: PHONE_RPS=5000"          etc/crmd/crmd.env sedit 's/^PHONE_RPS=.*/PHONE_RPS=5000/'
break_one mode    "secret-file-mode"                        etc/crmd/crmd.env chmod 0644
break_one hash    "manifest: changed since it was rendered" etc/nginx/sites-available/crm.conf append '# edited by hand'
break_one missing "listed in manifest.json but missing"     install.sh rm
break_one pg      "postgres -C"                             etc/postgresql/15/main/conf.d/crm.conf append 'shared_bufers = 1GB'
expect_out "unrecognized configuration parameter \"shared_bufers\""
break_one pgvalue "etc/postgresql/15/main/conf.d/crm.conf:" etc/postgresql/15/main/conf.d/crm.conf sedit 's/^work_mem = .*/work_mem = 22MBs/'
break_one nginx   "nginx -t"                                etc/nginx/sites-available/crm.conf sedit 's/^    client_max_body_size 33m;/    client_max_body_siz 33m;/'
expect_out 'unknown directive "client_max_body_siz"'
break_one unit    "systemd-analyze verify"                  etc/systemd/system/crmd.service sedit 's/^NoNewPrivileges=yes/NoNewPrivilege=yes/'

rm -rf "$TMP/broken-prom"; cp -a "$TMP/g-4-multi" "$TMP/broken-prom"
sed -i 's/^  scrape_interval: 15s/  scrape_interval: often/' "$TMP/broken-prom/monitoring/etc/prometheus/prometheus.yml"
run validate "$TMP/broken-prom"; expect_code 1; expect_out "promtool check config"
rm -rf "$TMP/broken-rules"; cp -a "$TMP/g-4-multi" "$TMP/broken-rules"
sed -i 's/rate(node_vmstat_pswpin\[5m\])/rate(node_vmstat_pswpin[5m)/' "$TMP/broken-rules/monitoring/etc/prometheus/alert-rules.yml"
run validate "$TMP/broken-rules"; expect_code 1
expect_out "monitoring/etc/prometheus/alert-rules.yml:40: promtool check rules"; expect_out "promtool check rules     failed"
rm -rf "$TMP/broken-dash"; cp -a "$TMP/g-4-multi" "$TMP/broken-dash"
sed -i 's/"uid": "crm-overview",/"uid": "",/' "$TMP/broken-dash/monitoring/etc/grafana/dashboards/crm/crm-overview.json"
run validate "$TMP/broken-dash"; expect_code 1; expect_out "grafana-dashboard: uid must be 1 to 40 characters"
rm -rf "$TMP/broken-pgb"; cp -a "$TMP/g-4-multi" "$TMP/broken-pgb"
sed -i 's/^pool_mode = transaction/pool_mode = sometimes/' "$TMP/broken-pgb/pgbouncer/etc/pgbouncer/pgbouncer.ini"
run validate "$TMP/broken-pgb"; expect_code 1; expect_out "pgbouncer"
rm -rf "$TMP/broken-compose"; cp -a "$TMP/g-2-compose" "$TMP/broken-compose"
sed -i 's/^    mem_limit: .*/    mem_limit: [1, 2]/' "$TMP/broken-compose/docker-compose.yml"
run validate "$TMP/broken-compose"; expect_code 1; expect_out "docker-compose config"

# Kubernetes: a clean tier-5 rendering passes the schemas; a wrong field type does not.
run render --tier 5 --target k8s --out "$TMP/k8s";  expect_code 0
run validate --require-tools "$TMP/k8s";              expect_code 0; expect_out "kubernetes-models        passed"
rm -rf "$TMP/broken-k8s"; cp -a "$TMP/k8s" "$TMP/broken-k8s"
sed -i 's/^  replicas: [0-9]*/  replicas: "three"/' "$TMP/broken-k8s/main/slice-hosts.yaml"
run validate "$TMP/broken-k8s"; expect_code 1; expect_out "main/slice-hosts.yaml:46: kubernetes-models"
run render --customers 6000 --regions 3 --target k8s --out "$TMP/k8s3"; expect_code 0
checks=$((checks + 1)); [[ -f $TMP/k8s3/region-3/postgres.yaml ]] || fail "no region-3 overlay"
run validate --require-tools "$TMP/k8s3";             expect_code 0

finish
