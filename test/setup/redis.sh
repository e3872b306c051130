#!/usr/bin/env bash
# What `npm test` runs third: ONE line saying whether the queue tests (agents and workers on
# BullMQ, SPEC §12) run. They need Redis at HOARD_TEST_REDIS_URL (default redis://127.0.0.1:6379);
# without it they are skipped, except under CI=true, where a missing Redis fails the run here.
set -euo pipefail
url=${HOARD_TEST_REDIS_URL:-redis://127.0.0.1:6379}
hostport=${url#redis://}
hostport=${hostport%%/*}
host=${hostport%%:*}
port=${hostport##*:}
[[ $port == "$hostport" ]] && port=6379
answers() {
  { exec 3<>"/dev/tcp/$host/$port"; } 2>/dev/null || return 1
  printf 'PING\r\n' >&3
  local reply
  IFS= read -r -t 2 reply <&3 || return 1
  exec 3>&-
  [[ $reply == +PONG* ]]
}
if answers; then
  echo "queue tests: Redis at $host:$port"
elif [[ ${CI:-} == true ]]; then
  echo "queue tests: no Redis answers at $host:$port, and CI=true requires them: 'apt-get install redis-server' and start it"
  exit 1
else
  echo "queue tests skipped: no Redis at $host:$port; 'apt-get install redis-server' (as root) installs and starts it"
fi
