# Shared by the benches that start PostgreSQL and crmd on loopback (source it; set BENCH first,
# the name messages start with). Functions: die, say, free_port, wait_for, http_code, is_200,
# pg_start DIR (sets conninfo, pg_bin, as_pg), pg_stop DIR, wrk_run NAME URL FILE [wrk args]
# (prints "rps p50_ms p99_ms errors").

die() {
  echo "$BENCH bench: $*" >&2
  exit 1
}
say() { echo "$BENCH bench: $*" >&2; }

http_code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
is_200() { [[ $(http_code "$@") == 200 ]]; }

# wait_for SECONDS PID COMMAND...: until COMMAND succeeds, PID still alive.
wait_for() {
  local seconds=$1 pid=$2
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" > /dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    kill -0 "$pid" 2> /dev/null || return 1
    sleep 0.1
  done
}

used_ports=" "
free_port() {
  local port
  for _ in $(seq 100); do
    port=$((20000 + RANDOM % 12000)) # below the ephemeral range (32768-60999)
    [[ $used_ports == *" $port "* ]] && continue
    if ! ss -Htln "sport = :$port" 2> /dev/null | grep -q .; then
      used_ports+="$port "
      echo "$port"
      return
    fi
  done
  die "no free TCP port found on 127.0.0.1"
}

pg_bin=${PG_BIN:-/usr/lib/postgresql/15/bin}
as_pg=()
if ((EUID == 0)); then
  as_pg=(runuser -u postgres --)
fi

# pg_start DIR [MAX_CONNECTIONS]: a throwaway cluster on a Unix socket in DIR (no fsync).
pg_start() {
  local dir=$1 max=${2:-300}
  [[ -x $pg_bin/initdb && -x $pg_bin/pg_ctl ]] || die "no PostgreSQL binaries in $pg_bin (set PG_BIN)"
  mkdir -p "$dir"
  ((EUID == 0)) && chown -R postgres: "$dir"
  "${as_pg[@]}" "$pg_bin/initdb" -D "$dir/data" -A trust -U postgres > "$dir/initdb.log" 2>&1 ||
    { cat "$dir/initdb.log" >&2; die "initdb failed"; }
  "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 \
    -o "-c listen_addresses='' -c unix_socket_directories=$dir -c fsync=off -c synchronous_commit=off -c max_connections=$max" \
    start > /dev/null || { cat "$dir/postgres.log" >&2; die "PostgreSQL did not start"; }
  conninfo="host=$dir user=postgres dbname=postgres"
}

pg_stop() {
  "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$1/data" -m immediate -w stop > /dev/null 2>&1
}

to_ms() {
  awk -v v="$1" 'BEGIN {
    n = v + 0
    if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n *= 1; else if (v ~ /m$/) n *= 60000; else if (v ~ /s$/) n *= 1000
    printf "%.2f", n
  }'
}

# wrk_run NAME URL FILE [wrk args...]: a 2 s warm-up, then DURATION with THREADS x CONNECTIONS.
wrk_run() {
  local name=$1 url=$2 file=$3
  shift 3
  wrk -t"${THREADS:-2}" -c"${CONNECTIONS:-32}" -d2s "$@" "$url" > /dev/null 2>&1 || true
  say "wrk -t${THREADS:-2} -c${CONNECTIONS:-32} -d${DURATION:-10s} --latency $url ($name)"
  wrk -t"${THREADS:-2}" -c"${CONNECTIONS:-32}" -d"${DURATION:-10s}" --latency "$@" "$url" > "$file" 2>&1 ||
    { cat "$file" >&2; die "wrk failed ($name)"; }
  local rps p50 p99 errors
  rps=$(awk '/^Requests\/sec:/ { print $2 }' "$file")
  p50=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$file")")
  p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$file")")
  errors=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$file")
  [[ -n $rps ]] || { cat "$file" >&2; die "cannot read wrk's output ($file)"; }
  echo "$rps $p50 $p99 ${errors:-0}"
}
