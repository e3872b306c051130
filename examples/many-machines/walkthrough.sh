#!/usr/bin/env bash
# Many machines (SPEC §12), as the README shows it, on one machine: a Redis, two agents that
# play hosts "a" and "b" (each with its own home, the same provider file, one shared bank), and
# a protect of a plan whose resources name those hosts. Run from a Hoard checkout after
# `npm run build`; needs a Redis at HOARD_QUEUE_URL (default redis://127.0.0.1:6379).
#
#   examples/many-machines/walkthrough.sh            # WORK=DIR to keep its files there
set -euo pipefail
export HOARD_QUEUE_URL=${HOARD_QUEUE_URL:-redis://127.0.0.1:6379}
WORK=${WORK:-$(mktemp -d)}
# HOARD: how to run hoard (default: this checkout's build, as `node build/src/cli/main.js`).
HOARD=${HOARD:-node $(cd "$(dirname "$0")/../.." && pwd)/build/src/cli/main.js}
hoard() { $HOARD "$@"; }

# The same provider file in every machine's home; its bank is a path all of them reach
# (on real machines: a shared file system, or an S3 bucket).
for m in coordinator host-a host-b; do
  mkdir -p "$WORK/$m/providers"
  cat > "$WORK/$m/providers/shared.conf" <<EOF
[provider]
name = shared
id = 4b0f6a8e-2d71-4c59-9e3a-7f1c2b8d5e60
bank = fs
plugin = exec.task
plugin = fs.directory
[fs]
path = $WORK/bank
EOF
done
# What host b holds: a directory of uploads.
mkdir -p "$WORK/host-b/uploads" && echo hello > "$WORK/host-b/uploads/hello.txt"

# Two agents, one per host, each in its own home. They run until stopped (SIGTERM: they
# finish the hooks they run, then leave).
(export HOARD_HOME=$WORK/host-a; exec $HOARD agent --host a 2> "$WORK/agent-a.log") &
AGENT_A=$!
(export HOARD_HOME=$WORK/host-b; exec $HOARD agent --host b 2> "$WORK/agent-b.log") &
AGENT_B=$!
trap 'kill $AGENT_A $AGENT_B 2>/dev/null; wait' EXIT

# The plan: the app on host a is frozen while host b copies its uploads.
cat > "$WORK/plan.yaml" <<EOF
name: two-hosts
provider: shared
resources:
  - {type: exec.task, id: app, host: a, children: [uploads]}
  - {type: fs.directory, id: uploads, host: b, path: $WORK/host-b/uploads}
parameters:
  exec.task#app:
    protect: {prepareBegin: 'echo freeze on host a', prepareFinish: 'echo thaw on host a'}
EOF

# A hook waits for its host's agent (up to 60 s, HOARD_AGENT_WAIT): no need to wait here.
export HOARD_HOME=$WORK/coordinator
hoard protect "$WORK/plan.yaml"
hoard agents list
hoard checkpoints show latest --plan two-hosts
hoard restore latest --plan two-hosts --target "$WORK/restored"
cat "$WORK/restored/hello.txt"
