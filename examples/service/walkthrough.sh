#!/usr/bin/env bash
# The service through its API with curl, as the README shows it: a plan, a trigger that
# fires every second, a retention_protect that keeps two checkpoints, a few runs, then a
# restore of the newest checkpoint. Needs curl and jq, a running `hoard serve`, a token.
#
#   HOARD_URL=http://127.0.0.1:8420 TOKEN=hrd_… PROJECT=demo DATA=/some/dir TARGET=/tmp/out \
#     examples/service/walkthrough.sh
set -euo pipefail
: "${HOARD_URL:?}" "${TOKEN:?}" "${PROJECT:?}" "${DATA:?}" "${TARGET:?}"
API="$HOARD_URL/v1/$PROJECT"
H="Authorization: Bearer $TOKEN"
post() { curl -sS --fail-with-body -H "$H" -H 'content-type: application/json' "$API/$1" -d "$2"; }
get() { curl -sS --fail-with-body -H "$H" "$API/$1"; }

PLAN=$(post plans '{"name":"walkthrough","resources":[{"type":"fs.directory","id":"data","path":"'"$DATA"'"}]}' | jq -r .plan.id)
echo "plan $PLAN"
TRIGGER=$(post triggers '{"name":"every second","type":"time","properties":{"pattern":"* * * * * *","window":5}}' | jq -r .trigger.id)
echo "trigger $TRIGGER"
SCHEDULE=$(post scheduled_operations '{"name":"keep two","operationType":"retention_protect","triggerId":"'"$TRIGGER"'",
  "operationDefinition":{"planId":"'"$PLAN"'","retention":{"kind":"max_backups","count":2}}}' | jq -r .scheduledOperation.id)
echo "scheduled operation $SCHEDULE"

# Wait (up to a minute) for three successful runs, then stop the schedule.
for _ in $(seq 1 200); do
  RUNS=$(get "operation_logs?scheduledOperationId=$SCHEDULE&status=succeeded" | jq '.operationLogs | length')
  [ "$RUNS" -ge 3 ] && break
  sleep 0.3
done
echo "succeeded runs: $RUNS"
# Once the PATCH has answered, every run there will be is listed: wait for those under way.
curl -sS --fail-with-body -X PATCH -H "$H" -H 'content-type: application/json' "$API/scheduled_operations/$SCHEDULE" \
  -d '{"enabled":false}' > /dev/null
while [ "$(get "operation_logs?scheduledOperationId=$SCHEDULE" \
  | jq '[.operationLogs[] | select(.status == "queued" or .status == "running")] | length')" != 0 ]; do
  sleep 0.2
done

AVAILABLE=$(get "providers/local/checkpoints?planId=$PLAN&status=available")
echo "available checkpoints: $(echo "$AVAILABLE" | jq '.checkpoints | length')"
NEWEST=$(echo "$AVAILABLE" | jq -r '.checkpoints[0].id')

RESTORE=$(post restores '{"providerId":"local","checkpointId":"'"$NEWEST"'","target":"'"$TARGET"'"}' | jq -r .operationLog.id)
# Follow it live until the stream ends.
curl -sSN -H "$H" "$API/operation_logs/$RESTORE/events" | grep '^event:' | sort | uniq -c
echo "restore: $(get "operation_logs/$RESTORE" | jq -r .operationLog.status) into $TARGET"
