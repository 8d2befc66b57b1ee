#!/usr/bin/env bash
# The compose stack as processes on one machine, for machines without Docker:
#   deploy/local.sh up        redis-server (AOF everysec), the broker, the example worker,
#                             and Prometheus when a `prometheus` binary is installed
#   deploy/local.sh status    what runs, and where
#   deploy/local.sh down      stops everything (SIGTERM: graceful)
#   deploy/local.sh cluster [up|status|down]
#                             a 6-node Redis Cluster (3 masters + 3 replicas) as processes
# Settings (environment): REDCURRENT_LOCAL_DIR (state, logs, data; default
# .redcurrent/local), PYTHON (default .venv/bin/python, else python3), REDIS_PORT (6379),
# BROKER_PORT (4566), WORKER_METRICS_PORT (9100), PROMETHEUS_PORT (9090),
# CLUSTER_BASE_PORT (7000: ports 7000-7005), CLUSTER_NODE_TIMEOUT_MS (5000).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
state="${REDCURRENT_LOCAL_DIR:-$root/.redcurrent/local}"
mkdir -p "$state" && state="$(cd "$state" && pwd)"  # absolute: the worker starts in deploy/
python="${PYTHON:-}"
if [ -z "$python" ]; then
  if [ -x "$root/.venv/bin/python" ]; then python="$root/.venv/bin/python"; else python=python3; fi
fi
case "$python" in */*) python="$(cd "$(dirname "$python")" && pwd)/$(basename "$python")" ;; esac
redis_port="${REDIS_PORT:-6379}"
broker_port="${BROKER_PORT:-4566}"
worker_metrics_port="${WORKER_METRICS_PORT:-9100}"
prometheus_port="${PROMETHEUS_PORT:-9090}"
cluster_base="${CLUSTER_BASE_PORT:-7000}"
node_timeout="${CLUSTER_NODE_TIMEOUT_MS:-5000}"

say() { echo "local: $*"; }
die() { echo "local: $*" >&2; exit 1; }

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

start() {  # name, command...: runs in the background, pid in $state/<name>.pid
  local name=$1; shift
  if alive "$state/$name.pid"; then say "$name already runs (pid $(cat "$state/$name.pid"))"; return; fi
  nohup "$@" >"$state/$name.log" 2>&1 &
  echo $! >"$state/$name.pid"
}

stop() {  # name: SIGTERM, then SIGKILL after 40 s (the worker's handlers get 30 s)
  local pidfile="$state/$1.pid"
  if alive "$pidfile"; then
    local pid; pid=$(cat "$pidfile")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 400); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && { say "$1 did not stop: SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; }
    say "$1 stopped"
  fi
  rm -f "$pidfile"
}

wait_http() {  # url, what
  for _ in $(seq 1 150); do
    if "$python" -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)" "$1" 2>/dev/null; then
      return 0
    fi
    sleep 0.2
  done
  die "$2 did not answer on $1 (see $state)"
}

wait_redis() {  # port
  for _ in $(seq 1 100); do redis-cli -p "$1" ping >/dev/null 2>&1 && return 0; sleep 0.1; done
  die "redis-server on port $1 did not start (see $state)"
}

up() {
  command -v redis-server >/dev/null || die "redis-server is not installed (apt-get install redis-server)"
  mkdir -p "$state/redis"
  start redis redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$state/redis" \
    --appendonly yes --appendfsync everysec --save ""
  wait_redis "$redis_port"
  local url="redis://127.0.0.1:$redis_port"
  start broker env BROKER_REDIS_URL="$url" "$python" -m broker serve --host 127.0.0.1 --port "$broker_port"
  wait_http "http://127.0.0.1:$broker_port/readyz" broker
  (cd "$root/deploy" && start worker env BROKER_REDIS_URL="$url" PYTHONPATH="$root" "$python" -m workers run \
    example_app:app --metrics-port "$worker_metrics_port" --log-level info)
  wait_http "http://127.0.0.1:$worker_metrics_port/metrics" worker
  if command -v prometheus >/dev/null; then
    mkdir -p "$state/prometheus"
    sed -e "s/broker:4566/127.0.0.1:$broker_port/" -e "s/worker:9100/127.0.0.1:$worker_metrics_port/" \
      "$root/deploy/prometheus.yml" >"$state/prometheus.yml"
    start prometheus prometheus --config.file="$state/prometheus.yml" \
      --storage.tsdb.path="$state/prometheus" --web.listen-address="127.0.0.1:$prometheus_port"
    wait_http "http://127.0.0.1:$prometheus_port/-/ready" prometheus
  else
    say "no prometheus binary: skipped (apt-get install prometheus)"
  fi
  status
}

status() {
  for name in redis broker worker prometheus; do
    if alive "$state/$name.pid"; then say "$name: running (pid $(cat "$state/$name.pid"))"
    else say "$name: stopped"; fi
  done
  say "broker: http://127.0.0.1:$broker_port (AWS endpoint; /metrics, /readyz)"
  say "worker metrics: http://127.0.0.1:$worker_metrics_port/metrics"
  say "logs and data: $state"
}

down() {
  for name in prometheus worker broker; do stop "$name"; done
  if alive "$state/redis.pid"; then
    redis-cli -p "$redis_port" shutdown >/dev/null 2>&1 || true
    stop redis
  fi
  rm -f "$state/redis.pid"
}

cluster_up() {
  command -v redis-server >/dev/null || die "redis-server is not installed (apt-get install redis-server)"
  local hosts=()
  for i in 0 1 2 3 4 5; do
    local port=$((cluster_base + i))
    mkdir -p "$state/cluster/$port"
    start "cluster-$port" redis-server --port "$port" --bind 127.0.0.1 --dir "$state/cluster/$port" \
      --cluster-enabled yes --cluster-config-file nodes.conf \
      --cluster-node-timeout "$node_timeout" --appendonly yes --appendfsync everysec --save ""
    hosts+=("127.0.0.1:$port")
  done
  for i in 0 1 2 3 4 5; do wait_redis $((cluster_base + i)); done
  if ! redis-cli -p "$cluster_base" cluster info | grep -q 'cluster_state:ok'; then
    redis-cli --cluster create "${hosts[@]}" --cluster-replicas 1 --cluster-yes >"$state/cluster/create.log"
  fi
  for _ in $(seq 1 100); do
    redis-cli -p "$cluster_base" cluster info | grep -q 'cluster_state:ok' && break; sleep 0.1
  done
  # ready when every replica has synced with its master (a replica that never did
  # cannot take over)
  for i in 0 1 2 3 4 5; do
    local port=$((cluster_base + i))
    for _ in $(seq 1 300); do
      local info; info=$(redis-cli -p "$port" info replication)
      if echo "$info" | grep -q 'role:master' || echo "$info" | grep -q 'master_link_status:up'; then
        break
      fi
      sleep 0.1
    done
  done
  cluster_status
  say "use redis+cluster://127.0.0.1:$cluster_base"
}

cluster_status() {
  for i in 0 1 2 3 4 5; do
    local port=$((cluster_base + i))
    if alive "$state/cluster-$port.pid"; then
      say "node $port: $(redis-cli -p "$port" role 2>/dev/null | head -1)"
    else say "node $port: stopped"; fi
  done
}

cluster_down() {
  for i in 0 1 2 3 4 5; do
    local port=$((cluster_base + i))
    redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
    stop "cluster-$port"
  done
  rm -rf "$state/cluster"
}

mkdir -p "$state"
case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  cluster)
    case "${2:-up}" in
      up) cluster_up ;; status) cluster_status ;; down) cluster_down ;;
      *) die "usage: $0 cluster [up|status|down]" ;;
    esac ;;
  *) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
