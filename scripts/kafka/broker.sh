#!/usr/bin/env bash
# A real single-node Kafka broker (KRaft: broker + controller in one JVM) for tests, benchmarks and CI,
# from the Maven Central jars listed in scripts/kafka/pom.xml. Needs only Java 17+ and Maven.
#
#   broker.sh fetch                               download the jars into the cache (skipped when present)
#   broker.sh start <dir>                         start a broker whose config, data and log live in <dir>;
#                                                 prints KAFKA_BROKERS=127.0.0.1:<port> on stdout and
#                                                 writes <dir>/broker.env (KAFKA_BROKERS, KAFKA_PID, ...)
#   broker.sh stop <dir>                          SIGTERM, then SIGKILL after SLUICE_KAFKA_STOP_TIMEOUT s
#   broker.sh status <dir>                        exit 0 and print KAFKA_BROKERS=... when it is running
#   broker.sh topic <dir> create <name> <parts>   create a topic (replication factor 1; no error if it exists)
#   broker.sh topic <dir> delete <name>           delete a topic
#   broker.sh topic <dir> list                    list the topics
#
# Every command is idempotent: `start` on a running broker prints its address again, `start` on a stopped
# one restarts it on the same data (on new ports if the old ones were taken), `stop` on a stopped one does
# nothing. Messages go to stderr; stdout carries only the KAFKA_BROKERS line (and `topic list` output).
#
# Environment:
#   SLUICE_KAFKA_VERSION        Kafka version (default below; must exist on Maven Central as kafka_2.13)
#   SLUICE_KAFKA_CACHE          jar cache directory (default $HOME/.cache/sluice/kafka-<version>)
#   SLUICE_KAFKA_HEAP           broker heap options (default "-Xms128m -Xmx512m")
#   SLUICE_KAFKA_START_TIMEOUT  seconds to wait for the broker to answer (default 90)
#   SLUICE_KAFKA_STOP_TIMEOUT   seconds between SIGTERM and SIGKILL (default 30)
#   SLUICE_KAFKA_WATCH_PID      if set, the broker is stopped when this process exits (used by test helpers
#                               so that a crashed test run leaves no broker behind)
#   SLUICE_KAFKA_EXTRA_PROPS    extra lines appended to server.properties (e.g. "auto.create.topics.enable=true")
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
POM="$HERE/pom.xml"
KAFKA_VERSION="${SLUICE_KAFKA_VERSION:-4.1.1}"
CACHE="${SLUICE_KAFKA_CACHE:-${HOME:-/tmp}/.cache/sluice/kafka-$KAFKA_VERSION}"
LIBS="$CACHE/libs"
MARKER="$CACHE/.fetched"
START_TIMEOUT="${SLUICE_KAFKA_START_TIMEOUT:-90}"
STOP_TIMEOUT="${SLUICE_KAFKA_STOP_TIMEOUT:-30}"
# Short-lived tool JVMs (StorageTool, TopicCommand): start fast, stay small, log only warnings.
TOOL_JAVA_OPTS=(-Xms32m -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto
  -Djava.awt.headless=true -Dorg.slf4j.simpleLogger.defaultLogLevel=warn -Dlog4j2.level=warn)

log() { echo "broker.sh: $*" >&2; }
die() { log "$*"; exit 1; }

need_java() {
  command -v java >/dev/null 2>&1 || die "java not found (Java 17+ is needed for Kafka $KAFKA_VERSION)"
}

# ---------------------------------------------------------------------------------------------- fetch
fetch_key() {
  # The cache is valid for this exact pom and version.
  { cat "$POM"; echo "$KAFKA_VERSION"; } | cksum | cut -d' ' -f1
}

cache_ok() {
  [ -f "$MARKER" ] && [ "$(cat "$MARKER")" = "$(fetch_key)" ] && [ -d "$LIBS" ] \
    && ls "$LIBS"/kafka_2.13-*.jar >/dev/null 2>&1
}

do_fetch() {
  cache_ok && return 0
  mkdir -p "$CACHE"
  # Two test processes may fetch at once on a cold cache: serialise them when flock(1) exists.
  if command -v flock >/dev/null 2>&1 && [ -z "${SLUICE_KAFKA_FETCH_LOCKED:-}" ]; then
    SLUICE_KAFKA_FETCH_LOCKED=1 flock "$CACHE/.lock" bash "$HERE/broker.sh" fetch >/dev/null
    return $?
  fi
  cache_ok && return 0
  command -v mvn >/dev/null 2>&1 || die "mvn not found: install Maven (apt-get install maven) to fetch the Kafka jars"
  log "fetching Kafka $KAFKA_VERSION jars from Maven Central into $LIBS"
  local tmp="$CACHE/libs.tmp.$$"
  rm -rf "$tmp"
  local t0=$SECONDS
  if ! mvn -q -B -Dstyle.color=never -f "$POM" -Dkafka.version="$KAFKA_VERSION" dependency:copy-dependencies \
      -DoutputDirectory="$tmp" >&2; then
    rm -rf "$tmp"
    die "mvn dependency:copy-dependencies failed"
  fi
  rm -rf "$LIBS"
  mv "$tmp" "$LIBS"
  fetch_key >"$MARKER"
  log "fetched $(ls "$LIBS" | wc -l) jars ($(du -sh "$LIBS" | cut -f1)) in $((SECONDS - t0)) s"
}

run_tool() {
  # run_tool <main class> args...
  local cls="$1"; shift
  java "${TOOL_JAVA_OPTS[@]}" -cp "$LIBS/*" "$cls" "$@"
}

# ---------------------------------------------------------------------------------------------- helpers
abs_dir() {
  mkdir -p "$1"
  (cd "$1" && pwd)
}

# Ports bound by anything on this machine (any state), from /proc: no ss/netstat needed.
used_ports() {
  local f line local_addr
  for f in /proc/net/tcp /proc/net/tcp6; do
    [ -r "$f" ] || continue
    while read -r _ local_addr _; do
      [[ "$local_addr" == *:* ]] || continue
      echo $((16#${local_addr##*:}))
    done <"$f"
  done
}

port_open() {
  # port_open <port>: true when something accepts TCP connections on 127.0.0.1:<port>.
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Two free ports below the usual ephemeral range (32768+), so that outgoing connections never hold them.
pick_ports() {
  local used p tries=0 picked=()
  used=" $(used_ports | tr '\n' ' ') "
  while [ ${#picked[@]} -lt 2 ]; do
    tries=$((tries + 1))
    [ $tries -lt 500 ] || die "could not find two free TCP ports"
    p=$((20000 + (RANDOM * 32768 + RANDOM) % 12000))
    [[ "$used" == *" $p "* ]] && continue
    [ ${#picked[@]} -eq 1 ] && [ "${picked[0]}" = "$p" ] && continue
    port_open "$p" && continue
    picked+=("$p")
  done
  echo "${picked[0]} ${picked[1]}"
}

# The ports of the last start in <dir>, from its server.properties (empty when there was none).
previous_ports() {
  local f="$1/server.properties" line
  [ -f "$f" ] || return 0
  line="$(grep -E '^listeners=' "$f" || true)"
  if [[ "$line" =~ PLAINTEXT://127\.0\.0\.1:([0-9]+),CONTROLLER://127\.0\.0\.1:([0-9]+) ]]; then
    echo "${BASH_REMATCH[1]} ${BASH_REMATCH[2]}"
  fi
}

# Reads <dir>/broker.env into ENV_BROKERS, ENV_PID, ENV_WATCHDOG (empty when absent).
read_env() {
  ENV_BROKERS="" ENV_PID="" ENV_WATCHDOG=""
  local f="$1/broker.env" k v
  [ -f "$f" ] || return 1
  while IFS='=' read -r k v; do
    case "$k" in
      KAFKA_BROKERS) ENV_BROKERS="$v" ;;
      KAFKA_PID) ENV_PID="$v" ;;
      KAFKA_WATCHDOG_PID) ENV_WATCHDOG="$v" ;;
    esac
  done <"$f"
  [ -n "$ENV_PID" ]
}

# True when <pid> is alive and is the Kafka broker of <dir> (guards against a reused pid).
is_our_broker() {
  local pid="$1" dir="$2"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  [ -r "/proc/$pid/cmdline" ] || return 0
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "kafka.Kafka $dir/server.properties"
}

write_properties() {
  local dir="$1" bport="$2" cport="$3"
  cat >"$dir/server.properties" <<EOF
# Written by scripts/kafka/broker.sh: a single-node KRaft broker for tests, on 127.0.0.1 only.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$bport,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$bport
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$dir/data
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=8
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=4
log.segment.bytes=268435456
log.retention.check.interval.ms=300000
EOF
  if [ -n "${SLUICE_KAFKA_EXTRA_PROPS:-}" ]; then
    printf '%s\n' "$SLUICE_KAFKA_EXTRA_PROPS" >>"$dir/server.properties"
  fi
}

random_cluster_id() {
  # A Kafka Uuid: 16 random bytes, URL-safe base64 without padding (22 characters). One that starts with
  # '-' would be read as an option by the storage tool (Kafka's own Uuid.randomUuid skips those too).
  local id
  while :; do
    id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
    [ "${id#-}" = "$id" ] && break
  done
  echo "$id"
}

format_storage() {
  local dir="$1"
  [ -f "$dir/data/meta.properties" ] && return 0
  local cid
  cid="$(cat "$dir/cluster.id" 2>/dev/null || true)"
  if [ -z "$cid" ]; then
    cid="$(random_cluster_id)"
    echo "$cid" >"$dir/cluster.id"
  fi
  local tpl
  if tpl="$(format_template)" && [ ! -e "$dir/data" ]; then
    # A copy of the formatted template with this broker's own cluster and directory ids.
    cp -R "$tpl" "$dir/data.tmp"
    sed -i -e "s/^cluster\.id=.*/cluster.id=$cid/" -e "s/^directory\.id=.*/directory.id=$(random_cluster_id)/" \
      "$dir/data.tmp/meta.properties"
    mv "$dir/data.tmp" "$dir/data"
    return 0
  fi
  run_tool kafka.tools.StorageTool format -t "$cid" -c "$dir/server.properties" --ignore-formatted \
    >"$dir/format.log" 2>&1 || { cat "$dir/format.log" >&2; die "kafka.tools.StorageTool format failed"; }
}

# A freshly formatted log directory in the cache, made once per jar set: formatting starts a JVM (seconds on
# a loaded machine), copying does not. Format writes no port and no path into it, only the ids that
# format_storage replaces in meta.properties. Prints its path; fails when it cannot be made.
format_template() {
  local tpl="$CACHE/formatted-$(fetch_key)"
  if [ ! -f "$tpl/meta.properties" ]; then
    local tmp="$CACHE/formatted.tmp.$$"
    rm -rf "$tmp"
    mkdir -p "$tmp"
    write_properties "$tmp" 1 2
    run_tool kafka.tools.StorageTool format -t "$(random_cluster_id)" -c "$tmp/server.properties" \
      >"$tmp/format.log" 2>&1 || { rm -rf "$tmp"; return 1; }
    # Two first starts at once: one rename wins, the other leaves the winner's copy in place.
    mv -T "$tmp/data" "$tpl" 2>/dev/null || true
    rm -rf "$tmp"
  fi
  [ -f "$tpl/meta.properties" ] && echo "$tpl"
}

# Starts a watchdog that stops the broker when the watched process (a test runner) exits first.
start_watchdog() {
  local watch="$1" pid="$2"
  nohup bash -c '
    w="$1"; k="$2"
    while kill -0 "$w" 2>/dev/null && kill -0 "$k" 2>/dev/null; do sleep 1; done
    if kill -0 "$k" 2>/dev/null; then
      kill -TERM "$k" 2>/dev/null
      for _ in $(seq 1 20); do kill -0 "$k" 2>/dev/null || exit 0; sleep 0.5; done
      kill -KILL "$k" 2>/dev/null
    fi' watchdog "$watch" "$pid" </dev/null >/dev/null 2>&1 &
  echo $!
}

# Metadata from the broker at <address>: with kcat when there is one (a JVM more costs seconds on a loaded
# machine, and every test broker start waits for this), else with Kafka's own TopicCommand.
probe_metadata() {
  if command -v kcat >/dev/null 2>&1; then
    kcat -b "$1" -L -m 10
  else
    run_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$1" --list
  fi
}

# ---------------------------------------------------------------------------------------------- start
# One attempt: 0 = running, 2 = port clash (retry with other ports), anything else = failure.
start_once() {
  local dir="$1" bport cport
  # A restart keeps the address clients know, unless something else took those ports meanwhile.
  read -r bport cport < <(previous_ports "$dir")
  if [ -z "${cport:-}" ] || port_open "$bport" || port_open "$cport" || [ "${SLUICE_KAFKA_NEW_PORTS:-}" = 1 ]; then
    read -r bport cport < <(pick_ports)
  fi
  [ -n "${cport:-}" ] || die "could not find two free TCP ports"
  write_properties "$dir" "$bport" "$cport"
  format_storage "$dir"

  : >"$dir/broker.log"
  # shellcheck disable=SC2086
  # The serial collector: a test broker's heap is small, and G1's threads only slow its start on few cores.
  nohup java ${SLUICE_KAFKA_HEAP:--Xms128m -Xmx512m} -XX:+UseSerialGC -Xshare:auto -Djava.awt.headless=true \
    -Dorg.slf4j.simpleLogger.defaultLogLevel=info -Dorg.slf4j.simpleLogger.showDateTime=true \
    -Dorg.slf4j.simpleLogger.dateTimeFormat="yyyy-MM-dd HH:mm:ss.SSS" \
    -Dorg.slf4j.simpleLogger.log.org.apache.kafka=warn -Dorg.slf4j.simpleLogger.log.kafka=info \
    -Dorg.slf4j.simpleLogger.log.state.change.logger=warn -Dlog4j2.level=warn \
    -cp "$LIBS/*" kafka.Kafka "$dir/server.properties" </dev/null >>"$dir/broker.log" 2>&1 &
  local pid=$!
  echo "$pid" >"$dir/broker.pid"

  local deadline=$((SECONDS + START_TIMEOUT)) started=""
  while [ $SECONDS -lt $deadline ]; do
    if ! kill -0 "$pid" 2>/dev/null; then
      wait "$pid" 2>/dev/null || true
      if grep -q -E 'Address already in use|BindException' "$dir/broker.log"; then
        log "port clash on $bport/$cport, retrying with other ports"
        return 2
      fi
      tail -n 40 "$dir/broker.log" >&2
      log "the broker exited during start-up (log: $dir/broker.log)"
      return 1
    fi
    if [ -z "$started" ] && grep -q 'Kafka Server started' "$dir/broker.log" && port_open "$bport"; then
      started=1
      # The broker accepts connections: ask it for metadata with a real client before saying it is ready.
      if probe_metadata "127.0.0.1:$bport" >/dev/null 2>"$dir/probe.log"; then
        break
      fi
      started=""
    fi
    sleep 0.2
  done
  if [ -z "$started" ]; then
    tail -n 40 "$dir/broker.log" >&2
    kill -KILL "$pid" 2>/dev/null || true
    log "the broker did not answer within ${START_TIMEOUT} s (log: $dir/broker.log)"
    return 1
  fi

  local watchdog=""
  if [ -n "${SLUICE_KAFKA_WATCH_PID:-}" ]; then
    watchdog="$(start_watchdog "$SLUICE_KAFKA_WATCH_PID" "$pid")"
  fi
  cat >"$dir/broker.env.tmp" <<EOF
KAFKA_BROKERS=127.0.0.1:$bport
KAFKA_PID=$pid
KAFKA_CONTROLLER=127.0.0.1:$cport
KAFKA_VERSION=$KAFKA_VERSION
KAFKA_WATCHDOG_PID=$watchdog
EOF
  mv "$dir/broker.env.tmp" "$dir/broker.env"
  echo "KAFKA_BROKERS=127.0.0.1:$bport"
  return 0
}

cmd_start() {
  [ $# -ge 1 ] || die "usage: broker.sh start <dir>"
  local dir
  dir="$(abs_dir "$1")"
  if read_env "$dir" && is_our_broker "$ENV_PID" "$dir" && port_open "${ENV_BROKERS##*:}"; then
    log "already running (pid $ENV_PID)"
    echo "KAFKA_BROKERS=$ENV_BROKERS"
    return 0
  fi
  # A broker of this dir that is alive but not in broker.env (e.g. interrupted start): stop it first.
  local old
  old="$(cat "$dir/broker.pid" 2>/dev/null || true)"
  if is_our_broker "$old" "$dir"; then stop_pid "$old" "$dir"; fi
  rm -f "$dir/broker.env"

  need_java
  do_fetch
  local t0=$SECONDS attempt rc
  for attempt in 1 2 3; do
    rc=0
    start_once "$dir" || rc=$?
    if [ $rc -eq 0 ]; then
      log "Kafka $KAFKA_VERSION ready in $((SECONDS - t0)) s (dir $dir)"
      return 0
    fi
    [ $rc -eq 2 ] || exit 1
    SLUICE_KAFKA_NEW_PORTS=1
  done
  die "could not start the broker after $attempt attempts"
}

# ---------------------------------------------------------------------------------------------- stop
stop_pid() {
  local pid="$1" dir="$2" deadline
  kill -TERM "$pid" 2>/dev/null || return 0
  deadline=$((SECONDS + STOP_TIMEOUT))
  while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    log "broker $pid did not stop within ${STOP_TIMEOUT} s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  fi
}

cmd_stop() {
  [ $# -ge 1 ] || die "usage: broker.sh stop <dir>"
  [ -d "$1" ] || return 0
  local dir pid
  dir="$(abs_dir "$1")"
  read_env "$dir" || true
  pid="${ENV_PID:-$(cat "$dir/broker.pid" 2>/dev/null || true)}"
  if [ -n "$ENV_WATCHDOG" ]; then kill "$ENV_WATCHDOG" 2>/dev/null || true; fi
  if is_our_broker "$pid" "$dir"; then
    stop_pid "$pid" "$dir"
    log "stopped broker $pid"
  fi
  rm -f "$dir/broker.env" "$dir/broker.pid"
}

cmd_status() {
  [ $# -ge 1 ] || die "usage: broker.sh status <dir>"
  local dir
  dir="$(abs_dir "$1")"
  if read_env "$dir" && is_our_broker "$ENV_PID" "$dir" && port_open "${ENV_BROKERS##*:}"; then
    echo "KAFKA_BROKERS=$ENV_BROKERS"
    return 0
  fi
  log "not running"
  return 1
}

# ---------------------------------------------------------------------------------------------- topic
cmd_topic() {
  [ $# -ge 2 ] || die "usage: broker.sh topic <dir> create <name> <partitions> | delete <name> | list"
  local dir="$1" action="$2"
  shift 2
  read_env "$dir" || die "no broker.env in $dir: start the broker first"
  need_java
  do_fetch
  local bs=(--bootstrap-server "$ENV_BROKERS")
  case "$action" in
    create)
      [ $# -eq 2 ] || die "usage: broker.sh topic <dir> create <name> <partitions>"
      run_tool org.apache.kafka.tools.TopicCommand "${bs[@]}" --create --if-not-exists --topic "$1" \
        --partitions "$2" --replication-factor 1 >&2
      ;;
    delete)
      [ $# -eq 1 ] || die "usage: broker.sh topic <dir> delete <name>"
      run_tool org.apache.kafka.tools.TopicCommand "${bs[@]}" --delete --if-exists --topic "$1" >&2
      ;;
    list)
      run_tool org.apache.kafka.tools.TopicCommand "${bs[@]}" --list
      ;;
    *) die "unknown topic action: $action" ;;
  esac
}

# ---------------------------------------------------------------------------------------------- main
case "${1:-}" in
  fetch) need_java; do_fetch; echo "$LIBS" ;;
  start) shift; cmd_start "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  status) shift; cmd_status "$@" ;;
  topic) shift; cmd_topic "$@" ;;
  *)
    sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
