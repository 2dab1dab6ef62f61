#!/usr/bin/env bash
# A merchant call through aliasgate's outbound proxy: the merchant sends an
# alias, the fake processor receives the real card number.
set -euo pipefail
cd "$(dirname "$0")/../.."
. examples/lib.sh

need_free_port 18443 "the fake processor"
need_free_port 18080 "aliasgate inbound"
need_free_port 18081 "aliasgate outbound"
need_free_port 19090 "aliasgate admin"

D=$(mktemp -d)
cleanup() {
  local status=$?
  show_logs_on_failure "$status" "$D"
  kill $(jobs -p) 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$D"
}
trap cleanup EXIT

go build -o "$D/aliasgate" ./cmd/aliasgate
go build -o "$D/psp" ./examples/outbound-psp/psp
"$D/psp" -addr 127.0.0.1:18443 -cert-out "$D/psp.pem" 2>"$D/psp.log" &
wait_until "the fake processor" test -s "$D/psp.pem"

cat >"$D/routes.yaml" <<'YAML'
routes:
  - id: psp
    direction: outbound
    host: 127.0.0.1
    ports: [18443]
    filters:
      - id: reveal-card
        phase: request
        match: {methods: [POST], content_type: json}
        operation: reveal
        targets:
          - {json: card.number}
YAML
cat >"$D/aliasgate.yaml" <<YAML
data_dir: $D/data
routes_file: $D/routes.yaml
listen: {inbound: 127.0.0.1:18080, outbound: 127.0.0.1:18081, admin: 127.0.0.1:19090}
vault_api: {enabled: true}
outbound: {require_auth: true, allow_private_destinations: true, ca_bundle: $D/psp.pem}
YAML
AG="$D/aliasgate"
field() { grep -o "\"$1\": *\"[^\"]*\"" | head -n 1 | sed 's/.*"\([^"]*\)"$/\1/'; }
api=$("$AG" clients create --config "$D/aliasgate.yaml" --name demo-api --account demo --scopes aliases:write)
out=$("$AG" clients create --config "$D/aliasgate.yaml" --name merchant --account demo --outbound)

"$AG" serve --config "$D/aliasgate.yaml" 2>"$D/gateway.log" &
wait_until "aliasgate (http://127.0.0.1:19090/readyz)" curl -sf http://127.0.0.1:19090/readyz
"$AG" ca cert --config "$D/aliasgate.yaml" >"$D/gateway-ca.pem"

# The merchant's card is an alias (made here through the vault API).
alias=$(curl -sf -u "$(echo "$api" | field client_id):$(echo "$api" | field client_secret)" \
  -H 'Content-Type: application/json' http://127.0.0.1:18080/aliases \
  -d '{"data":[{"value":"4111111111111111","classifiers":["pan"],"format":"UUID"}]}' | field alias)
echo "merchant holds alias: $alias"

# The merchant's call to the processor, through the outbound proxy.
curl -sS -x "http://$(echo "$out" | field client_id):$(echo "$out" | field client_secret)@127.0.0.1:18081" \
  --cacert "$D/gateway-ca.pem" -H 'Content-Type: application/json' \
  https://127.0.0.1:18443/v1/charges -d "{\"amount\":1000,\"card\":{\"number\":\"$alias\"}}"
echo
sleep 0.2
echo "what the processor received:"
grep 'psp received' "$D/psp.log"
