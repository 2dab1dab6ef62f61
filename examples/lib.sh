# Shared by the examples' run.sh scripts (sourced, not run).

# Each example runs its own gateway from its own files, ports and data
# dir. Settings exported for another gateway (ALIASGATE_LISTEN_*, which the
# README's walk-throughs follow, ALIASGATE_ROUTES_FILE, a master key…) would
# win over them, so the example drops them (the caller's shell keeps them).
for v in $(compgen -e); do
  case $v in ALIASGATE_*) unset "$v" ;; esac
done

# need_free_port PORT WHAT: stop at once, naming the port, when something
# already listens on 127.0.0.1:PORT (an earlier run, another program).
need_free_port() {
  if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
    echo "error: port $1 ($2) is already in use on 127.0.0.1; stop what listens there (ss -ltnp 'sport = :$1') and run again" >&2
    exit 1
  fi
}

# wait_until WHAT CMD...: run CMD every 0.1 s until it succeeds, for at most
# 15 s; then stop with an error (the EXIT trap prints the logs).
wait_until() {
  local what=$1
  shift
  for _ in $(seq 1 150); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "error: $what did not come up within 15 s" >&2
  return 1
}

# show_logs_on_failure DIR: when the script fails, print the logs in DIR
# before its clean-up deletes them.
show_logs_on_failure() {
  local status=$1 dir=$2
  if [ "$status" -ne 0 ]; then
    for f in "$dir"/*.log; do
      [ -s "$f" ] || continue
      echo "---- $(basename "$f") (last 40 lines)" >&2
      tail -n 40 "$f" >&2
    done
  fi
}
