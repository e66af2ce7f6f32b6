# Tiny assertion helpers for CLI tests: run the real crmctl, check exit codes and output.
# Usage in a test: source "$(dirname "$0")/lib.sh"; then run/expect_* ; finish.
set -uo pipefail
CRMCTL=${1:?usage: test.sh CRMCTL SOURCE_DIR}
SRC=${2:?usage: test.sh CRMCTL SOURCE_DIR}
export NO_COLOR=1
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
failures=0
checks=0

# run ARGS...: runs crmctl, keeps stdout in $OUT, stderr in $ERR, exit code in $CODE.
run() {
  "$CRMCTL" "$@" >"$TMP/out" 2>"$TMP/err"
  CODE=$?
  OUT=$(cat "$TMP/out")
  ERR=$(cat "$TMP/err")
  LAST="crmctl $*"
}

fail() {
  failures=$((failures + 1))
  echo "FAIL: $LAST: $*" >&2
  echo "  stdout: ${OUT:0:2000}" >&2
  echo "  stderr: ${ERR:0:2000}" >&2
}

expect_code() { checks=$((checks + 1)); [[ $CODE -eq $1 ]] || fail "exit code $CODE, expected $1"; }
expect_out() { checks=$((checks + 1)); [[ $OUT == *"$1"* ]] || fail "stdout lacks: $1"; }
expect_err() { checks=$((checks + 1)); [[ $ERR == *"$1"* ]] || fail "stderr lacks: $1"; }
# expect_golden NAME: stdout equals tests/golden/NAME (regenerate: scripts/update-golden).
expect_golden() {
  checks=$((checks + 1))
  if ! diff -u "$SRC/tests/golden/$1" "$TMP/out" >"$TMP/diff"; then
    fail "differs from tests/golden/$1 (regenerate with scripts/update-golden if intended):
$(head -40 "$TMP/diff")"
  fi
}
# expect_json PYTHON_EXPR: the expression over `d` (parsed stdout) is true.
expect_json() {
  checks=$((checks + 1))
  python3 -c "import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if ($1) else 1)" \
    "$TMP/out" 2>>"$TMP/err" || fail "json check failed: $1"
}

finish() {
  echo "$checks checks, $failures failed"
  [[ $failures -eq 0 ]]
}
