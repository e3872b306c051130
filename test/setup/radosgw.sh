#!/usr/bin/env bash
# A single-node Ceph radosgw on loopback: the real S3 server the s3 bank's tests run against.
#
#   test/setup/radosgw.sh start    install the packages when missing (apt-get), start a cluster
#                                  (or reuse the running one), wait until S3 answers, print
#                                  HOARD_S3_ENDPOINT, HOARD_S3_ACCESS_KEY_ID, HOARD_S3_SECRET_ACCESS_KEY
#   test/setup/radosgw.sh ensure   what `npm test` runs first: start it if radosgw is installed
#                                  (or CI=true), and print ONE line saying whether the s3 tests run
#   test/setup/radosgw.sh env      the three lines, if it is running (exit 1 if not)
#   test/setup/radosgw.sh bucket NAME  make a bucket (if it is not there) with the test user's keys
#   test/setup/radosgw.sh stop     stop the daemons and remove the cluster's directory
#
# Everything lives in HOARD_RADOSGW_DIR (default /tmp/hoard-radosgw): config, monitor, OSD
# (memstore: the data is in the OSD's memory), logs. S3 on 127.0.0.1:HOARD_RADOSGW_PORT
# (default 17480), the monitor on 127.0.0.1:HOARD_RADOSGW_MON_PORT (default 16789).
# Progress goes to stderr; `start` is idempotent and safe to run concurrently (a lock).
set -euo pipefail

DIR=${HOARD_RADOSGW_DIR:-/tmp/hoard-radosgw}
PORT=${HOARD_RADOSGW_PORT:-17480}
MON_PORT=${HOARD_RADOSGW_MON_PORT:-16789}
ACCESS_KEY=hoard-test-access-key
SECRET_KEY=hoard-test-secret-key-0123456789abcdef
CONF=$DIR/ceph.conf
PACKAGES=(ceph-mon ceph-osd radosgw)

say() { echo "radosgw.sh: $*" >&2; }

env_lines() {
  echo "HOARD_S3_ENDPOINT=http://127.0.0.1:$PORT"
  echo "HOARD_S3_ACCESS_KEY_ID=$ACCESS_KEY"
  echo "HOARD_S3_SECRET_ACCESS_KEY=$SECRET_KEY"
}

installed() { command -v radosgw >/dev/null && command -v ceph-mon >/dev/null && command -v ceph-osd >/dev/null; }

install_packages() {
  installed && return 0
  say "installing ${PACKAGES[*]} (apt-get; output in $DIR.apt.log)"
  export DEBIAN_FRONTEND=noninteractive
  if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}"; } >"$DIR.apt.log" 2>&1; then
    tail -20 "$DIR.apt.log" >&2
    say "installing ${PACKAGES[*]} failed (as root? Debian or Ubuntu?)"
    return 1
  fi
}

# True when an anonymous S3 request (ListBuckets) gets an HTTP answer from the gateway.
s3_answers() {
  local line
  { exec 3<>"/dev/tcp/127.0.0.1/$PORT"; } 2>/dev/null || return 1
  printf 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >&3
  IFS= read -r -t 5 line <&3 || line=''
  exec 3<&- 3>&-
  [[ $line == HTTP/1.1\ 200* ]]
}

# True when the test user exists: the last step of a start, so a half-made cluster is not reused.
ready() { [[ -f $DIR/ready ]] && s3_answers; }

stop_daemons() {
  local name pid
  for name in client.rgw.hoard osd.0 mon.a; do
    [[ -f $DIR/run/$name.pid ]] || continue
    pid=$(cat "$DIR/run/$name.pid" 2>/dev/null || true)
    [[ -n $pid ]] && kill "$pid" 2>/dev/null || true
  done
  for name in client.rgw.hoard osd.0 mon.a; do
    [[ -f $DIR/run/$name.pid ]] || continue
    pid=$(cat "$DIR/run/$name.pid" 2>/dev/null || true)
    for _ in $(seq 50); do
      [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    [[ -n $pid ]] && kill -9 "$pid" 2>/dev/null || true
  done
}

write_conf() {
  local fsid=$1
  cat >"$CONF" <<EOF
[global]
fsid = $fsid
mon_host = v1:127.0.0.1:$MON_PORT
public_addr = 127.0.0.1
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
run_dir = $DIR/run
pid_file = $DIR/run/\$name.pid
admin_socket = $DIR/run/\$name.asok
log_file = $DIR/log/\$name.log
keyring = $DIR/keyring
osd_objectstore = memstore
memstore_device_bytes = 2147483648
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
mon_max_pg_per_osd = 1000
osd_crush_chooseleaf_type = 0
mon_allow_pool_size_one = true
mon_allow_pool_delete = true
mon_warn_on_pool_no_redundancy = false
# Without these about one start in three hangs: the OSD sends its crush location and device
# class before it has the monmap.
osd_crush_update_on_start = false
osd_class_update_on_start = false
[mon.a]
mon_data = $DIR/mon/a
[osd.0]
osd_data = $DIR/osd/0
[client.rgw.hoard]
# tcp_nodelay: without it beast sends an answer's body after a Nagle wait for the client's
# delayed ACK, 40-50 ms per small request (measured: an incremental protect 3.1 s, 2.1 s with it).
rgw_frontends = beast endpoint=127.0.0.1:$PORT tcp_nodelay=1
rgw_data = $DIR/rgw
rgw_dns_name = 127.0.0.1
EOF
}

# One attempt at a fresh cluster; false (daemons stopped) if it does not answer in time.
start_once() {
  stop_daemons
  rm -rf "$DIR/mon" "$DIR/osd" "$DIR/run" "$DIR/rgw" "$DIR/ready"
  mkdir -p "$DIR/mon/a" "$DIR/osd/0" "$DIR/run" "$DIR/log" "$DIR/rgw"
  : >"$DIR/keyring"
  local fsid
  fsid=$(cat /proc/sys/kernel/random/uuid)
  write_conf "$fsid"
  local c=(-c "$CONF")
  monmaptool --create --clobber --addv a "[v1:127.0.0.1:$MON_PORT]" --fsid "$fsid" "$DIR/monmap" >/dev/null
  ceph-mon "${c[@]}" --mkfs -i a --monmap "$DIR/monmap" >>"$DIR/log/start.out" 2>&1 9>&-
  ceph-mon "${c[@]}" -i a >>"$DIR/log/start.out" 2>&1 9>&-
  timeout 60 ceph "${c[@]}" osd create >/dev/null || return 1
  ceph-osd "${c[@]}" -i 0 --mkfs >>"$DIR/log/start.out" 2>&1 9>&- || return 1
  timeout 60 ceph "${c[@]}" osd crush add osd.0 1.0 root=default >/dev/null 2>&1 || return 1
  ceph-osd "${c[@]}" -i 0 >>"$DIR/log/start.out" 2>&1 9>&-
  radosgw "${c[@]}" -n client.rgw.hoard >>"$DIR/log/start.out" 2>&1 9>&-
  local deadline=$((SECONDS + 90))
  until s3_answers; do
    ((SECONDS < deadline)) || return 1
    sleep 0.5
  done
  timeout 60 radosgw-admin "${c[@]}" user create --uid=hoard --display-name=hoard \
    --access-key="$ACCESS_KEY" --secret-key="$SECRET_KEY" >/dev/null || return 1
  : >"$DIR/ready"
}

start() {
  mkdir -p "$DIR"
  exec 9>"$DIR.lock"
  flock 9
  if ready; then
    env_lines
    return 0
  fi
  install_packages
  local began=$SECONDS
  for attempt in 1 2; do
    say "starting a single-node cluster in $DIR (attempt $attempt)"
    if start_once; then
      say "S3 answers at http://127.0.0.1:$PORT after $((SECONDS - began)) s"
      env_lines
      return 0
    fi
    say "attempt $attempt did not answer; logs in $DIR/log"
  done
  stop_daemons
  say "radosgw did not start; see $DIR/log"
  return 1
}

case ${1:-} in
start) start ;;
ensure)
  if installed || [[ ${CI:-} == true ]]; then
    began=$SECONDS
    if start >/dev/null 2>"$DIR.start.log"; then
      echo "s3 tests: radosgw at http://127.0.0.1:$PORT, ready in $((SECONDS - began)) s (left running; 'bash test/setup/radosgw.sh stop' stops it)"
    else
      echo "s3 tests: radosgw did not start (see $DIR.start.log and $DIR/log): they will fail"
      [[ ${CI:-} == true ]] && exit 1
    fi
  else
    echo "s3 tests skipped: no radosgw here; 'bash test/setup/radosgw.sh start' installs (apt-get, as root) and starts one"
  fi
  ;;
env)
  ready || exit 1
  env_lines
  ;;
stop)
  stop_daemons
  rm -rf "$DIR" "$DIR.lock" "$DIR.start.log" "$DIR.apt.log"
  ;;
bucket)
  [[ -n ${2:-} ]] || { echo "usage: $0 bucket NAME" >&2; exit 2; }
  ready || { say "not running: 'bash test/setup/radosgw.sh start' first"; exit 1; }
  # With the AWS SDK the project installs (npm install): no other S3 client needed.
  cd "$(dirname "$0")/../.."
  node --input-type=module -e '
    import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
    const [endpoint, accessKeyId, secretAccessKey, Bucket] = process.argv.slice(1);
    const s3 = new S3Client({ endpoint, region: "us-east-1", forcePathStyle: true, credentials: { accessKeyId, secretAccessKey } });
    try { await s3.send(new CreateBucketCommand({ Bucket })); console.log(`bucket ${Bucket} made`); }
    catch (e) { if (e.name !== "BucketAlreadyOwnedByYou") throw e; console.log(`bucket ${Bucket} is there`); }
  ' "http://127.0.0.1:$PORT" "$ACCESS_KEY" "$SECRET_KEY" "$2"
  ;;
status)
  if ready; then echo running; else
    echo stopped
    exit 1
  fi
  ;;
*)
  echo "usage: $0 start|ensure|env|bucket NAME|stop|status" >&2
  exit 2
  ;;
esac
