#!/usr/bin/env bash
# crmctl apply/status/destroy: bad input is refused with a message naming the flag or the file,
# exit 2 (1 under --detailed-exitcode), and nothing is created. (The real deployments are
# tested in tests/integration/apply_local_test.cpp.)
source "$(dirname "$0")/lib.sh"

# As root PostgreSQL runs as postgres, which must be able to enter the directory (mktemp makes
# $TMP 0700).
if [[ $(id -u) -eq 0 ]]; then
  run apply --target local --dir "$TMP/d" --dry-run;   expect_code 2; expect_err "PostgreSQL runs as the postgres user, which cannot enter $TMP (mode 0700)"
fi
chmod 755 "$TMP"

run apply --target local;                              expect_code 2; expect_err "--dir is required"
run apply --target local --dir "$TMP/d" --tier 9;      expect_code 2; expect_err "no tier 9"
run apply --target local --dir "$TMP/d" --tier 3 --dry-run; expect_code 2; expect_err "vps does not fit tier 3"
run apply --target local --dir "$TMP/d" --port 70000;  expect_code 2; expect_err "70000 is not a TCP port"
run apply --target local --dir "$TMP/d" --crmd "$TMP/nope"; expect_code 2; expect_err "--crmd: $TMP/nope is not an executable file"
run apply --target local --dir "$TMP/d" --customers x; expect_code 2; expect_err "--customers"
run apply --target helm --dir "$TMP/d";                expect_code 2; expect_err "--target: 'helm' is not available"
run apply --target k8s --dir "$TMP/d" --tier 5 --wa-web-image crmd-wa-web:latest; expect_code 2; expect_err "--wa-web-image: 'crmd-wa-web:latest': the tag \`latest\` moves"
run apply --target local --dir "$TMP/d" --tier 9 --detailed-exitcode; expect_code 1; expect_err "no tier 9"
checks=$((checks + 1)); [[ ! -e $TMP/d ]] || fail "a refused apply created the directory"

# On a terminal apply asks, and only "yes" goes on (script(1) gives it a pseudo-terminal).
printf 'no\n' | script -qec "$CRMCTL apply --target local --dir $TMP/tty --port 0" /dev/null >"$TMP/tty.out" 2>&1
CODE=$?; OUT=$(cat "$TMP/tty.out"); ERR=$OUT; LAST="apply on a terminal, answering no"
expect_code 2; expect_out "Do you want to apply these changes? Only 'yes' is accepted:"; expect_out "not approved (the answer was not 'yes'); nothing was changed"
checks=$((checks + 1)); [[ ! -e $TMP/tty ]] || fail "an apply that was not approved created the directory"

# A directory crmctl did not make is never taken over.
mkdir -p "$TMP/foreign"; echo keep >"$TMP/foreign/notes.txt"
run apply --target local --dir "$TMP/foreign" --dry-run; expect_code 2; expect_err "holds files but no state.json"
run destroy --dir "$TMP/foreign" --purge --auto-approve; expect_code 2; expect_err "has no state.json"
checks=$((checks + 1)); [[ -f $TMP/foreign/notes.txt ]] || fail "destroy removed a foreign directory's file"
run status --dir "$TMP/foreign";                       expect_code 2; expect_err "nothing was applied there"

# A damaged state file is named, not trusted.
mkdir -p "$TMP/bad"; echo '{"format": 1, "target": ' >"$TMP/bad/state.json"
run apply --target local --dir "$TMP/bad" --dry-run;   expect_code 2; expect_err "$TMP/bad/state.json: not valid JSON"
echo '{"format": 1, "target": "local", "hosts": {"local": {"files": {"a": {"sha256": 3}}}}}' >"$TMP/bad/state.json"
run status --dir "$TMP/bad";                           expect_code 2; expect_err "hosts.local.files.a: 'sha256' must be a string"
echo '{"format": 1, "target": "k8s"}' >"$TMP/bad/state.json"
run apply --target local --dir "$TMP/bad" --dry-run;   expect_code 2; expect_err "holds a k8s deployment, not a local one"

# A dry run of a new deployment prints the whole plan and creates nothing.
run apply --target local --dir "$TMP/new" --dry-run --detailed-exitcode --port 0
expect_code 2; expect_out "+ config/postgresql.conf"; expect_out "+ service crmd"; expect_out "Plan: 8 to add, 0 to change, 0 to remove."
checks=$((checks + 1)); [[ ! -e $TMP/new ]] || fail "--dry-run created the directory"

# --target k8s: a dry run needs no cluster and shows the commands and the manifests; without a
# configured or reachable cluster apply stops with a message saying which.
run apply --target k8s --dir "$TMP/k8s" --tier 1 --dry-run; expect_code 2; expect_err "tier 1 (Start) is not a Kubernetes tier; deploy it with --target local or ssh"
run apply --target k8s --dir "$TMP/k8s" --tier 5 --dry-run --detailed-exitcode
expect_code 2; expect_out "+ main/gateway.yaml"; expect_out "diff --server-side --field-manager=crmctl -k $TMP/k8s/manifests.next"
expect_out "apply --server-side --field-manager=crmctl -k"; expect_out "# ---- main/slice-hosts.yaml"; expect_out "kind: StatefulSet"
checks=$((checks + 1)); [[ ! -e $TMP/k8s ]] || fail "--dry-run created the directory"
if command -v kubectl >/dev/null; then
  : >"$TMP/empty-kubeconfig"
  KUBECONFIG=$TMP/empty-kubeconfig run apply --target k8s --dir "$TMP/k8s" --tier 5 --auto-approve
  expect_code 1; expect_err "no Kubernetes cluster is configured: kubectl has no current context"
  cat >"$TMP/dead-kubeconfig" <<'YAML'
apiVersion: v1
kind: Config
clusters: [{name: dead, cluster: {server: "https://127.0.0.1:1"}}]
contexts: [{name: dead, context: {cluster: dead, user: u}}]
current-context: dead
users: [{name: u, user: {token: x}}]
YAML
  KUBECONFIG=$TMP/dead-kubeconfig run apply --target k8s --dir "$TMP/k8s" --tier 5 --auto-approve
  expect_code 1; expect_err "the Kubernetes cluster is unreachable"; expect_err "127.0.0.1:1"
  checks=$((checks + 1)); [[ ! -e $TMP/k8s/state.json ]] || fail "a failed k8s apply recorded a state"
else
  echo "FAIL: kubectl is not installed (scripts/bootstrap installs it)" >&2; failures=$((failures + 1))
fi

finish
