#!/usr/bin/env bash
# make demo: a realistic week of data served on 127.0.0.1:PORT.
# usage: scripts/demo.sh VEX_BINARY DATA_DIR PORT SESSIONS
set -euo pipefail
VEX=${1:-build/vex}
DATA=${2:-demo-data}
PORT=${3:-8080}
SESSIONS=${4:-200000}
CUSTOMER=demo
USER_NAME=demo
PASSWORD=demo-password

rm -rf "$DATA"
mkdir -p "$DATA"
start=$(date +%s)
KEY=$("$VEX" customer add "$CUSTOMER" --plan 1 --data "$DATA")
echo "$PASSWORD" | "$VEX" user add "$USER_NAME" --password-stdin --customers "$CUSTOMER" --data "$DATA"
END=$(( $(date +%s) / 3600 * 3600 ))
BEGIN=$(( END - 7 * 86400 ))
echo "generating $SESSIONS sessions over 7 days..."
"$VEX" gen --sessions "$SESSIONS" --days 7 --seed 1 --end "$END" > "$DATA/events.ndjson"
echo "loading $(wc -l < "$DATA/events.ndjson") events..."
"$VEX" load --customer "$CUSTOMER" "$DATA/events.ndjson" --data "$DATA"
rm -f "$DATA/events.ndjson"

"$VEX" serve --data "$DATA" --listen "127.0.0.1:$PORT" &
SERVER=$!
trap 'kill -TERM $SERVER 2>/dev/null; wait $SERVER 2>/dev/null' INT TERM EXIT
for _ in $(seq 1 200); do
  curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
TOKEN=$(curl -fsS -X POST "http://127.0.0.1:$PORT/realms/vex/protocol/openid-connect/token" \
  -d grant_type=password -d username="$USER_NAME" -d password="$PASSWORD" \
  -d client_id=smartsight-backend | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
B="http://127.0.0.1:$PORT"
P="period=start=$BEGIN,end=$END"
echo
echo "vex demo ready in $(( $(date +%s) - start )) s: $SESSIONS sessions of customer '$CUSTOMER' over the last 7 days"
echo "  dashboard:   $B/"
echo "  health:      $B/healthz     Prometheus: $B/metrics"
echo "  ingest key:  $KEY   (POST $B/v1/events with X-Vex-Key)"
echo "  login:       user '$USER_NAME', password '$PASSWORD' (token below is valid 15 min)"
echo
echo "TOKEN=$TOKEN"
echo
echo "Seed queries:"
for m in viewercount attempts concurviewavg endedplays errors startupabandonmentrate bufferingratio latency \
         "qualityofexperience,bufferingratio,latency,failurerate,playdur,cdn&dimension=cdn&aggby=cdn" \
         sumbuffwaitcirr vrtbufferingratio "attempts,viewercount&aggby=cdn,platform" \
         "attempts,viewercount&aggby=timestamp&granularity=hour"; do
  echo "  curl -s -H \"Authorization: Bearer \$TOKEN\" '$B/mm-apis/session/$CUSTOMER?planlevel=1&$P&metrics=$m'"
done
echo
echo "Serving until Ctrl-C."
wait $SERVER
