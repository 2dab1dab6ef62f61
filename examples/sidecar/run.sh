#!/usr/bin/env bash
# Sidecar example: start a tiny upstream app, start aliasgate in front of it
# with examples/sidecar/routes.yaml, and show with curl that the app receives
# aliases, never the card number or CVC. Run from anywhere; needs Go and curl.
set -euo pipefail
cd "$(dirname "$0")/../.."
. examples/lib.sh

# The ports of examples/sidecar/aliasgate.yaml and routes.yaml.
need_free_port 18000 "the example app"
need_free_port 18080 "aliasgate inbound"
need_free_port 18081 "aliasgate outbound"
need_free_port 19090 "aliasgate admin"

DATA=$(mktemp -d)
PIDS=()
cleanup() {
  local status=$?
  show_logs_on_failure "$status" "$DATA"
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$DATA"
}
trap cleanup EXIT

go build -o "$DATA/echo" ./examples/sidecar/echo
go build -o "$DATA/aliasgate" ./cmd/aliasgate

"$DATA/echo" -addr 127.0.0.1:18000 2>"$DATA/echo.log" &
PIDS+=($!)
ALIASGATE_DATA_DIR="$DATA/data" "$DATA/aliasgate" serve --config examples/sidecar/aliasgate.yaml 2>"$DATA/aliasgate.log" &
PIDS+=($!)

wait_until "aliasgate (http://127.0.0.1:19090/readyz)" curl -fsS -o /dev/null http://127.0.0.1:19090/readyz

echo "== JSON: the client sends a card number and CVC"
curl -sS http://127.0.0.1:18080/checkout -H 'Content-Type: application/json' \
  -d '{"card":{"number":"4111111111111111","cvc":"737"},"amount":1999}'
echo
echo "== form"
curl -sS http://127.0.0.1:18080/checkout -d 'card_number=4111111111111111&cvc=737&amount=1999'
echo
echo "== a card number in a field no filter names: refused by the leak guard (422), nothing reaches the app"
curl -sS -w ' (HTTP %{http_code})' http://127.0.0.1:18080/checkout -H 'Content-Type: application/json' \
  -d '{"card":{"number":"4111111111111111"},"note":"5555555555554444"}'
echo
echo "== malformed JSON: refused (400), nothing reaches the app"
curl -sS -w ' (HTTP %{http_code})' http://127.0.0.1:18080/checkout -H 'Content-Type: application/json' -d '{"card":'
echo
echo "== what the app received:"
cat "$DATA/echo.log"
if grep -q 4111111111111111 "$DATA/echo.log"; then
  echo "FAIL: the app saw a card number" >&2
  exit 1
fi
if ! grep -q 'tok_sandbox_' "$DATA/echo.log"; then
  echo "FAIL: the app received no aliases (is routes_file applied to the inbound listener?)" >&2
  exit 1
fi
echo "OK: the app saw aliases only"
