#!/usr/bin/env bash
# Copied from ../shared/k8s/control-plane.sh so that the repository stands alone; the binaries come from
# K8S_BIN (the tests set it from KAIWO_K8S_BIN or ../shared/k8s/bin).
# A private, real Kubernetes control plane on loopback, for integration tests and
# benchmarks: etcd (Debian's etcd-server), kube-apiserver and, optionally,
# kube-scheduler v1.26.1 from bin/ beside this script. No controller-manager and no
# kubelet run: nodes are created and marked Ready by the caller, pods are bound but
# never started.
#
#   control-plane.sh up DIR      start; DIR gets kubeconfig, token, ca.crt, logs/, run/
#   control-plane.sh down DIR    stop exactly what `up DIR` started
#
# Environment for `up` (all optional):
#   API_PORT (6443), ETCD_PORT (2379; peer port is ETCD_PORT+1), SCHED_PORT (10259)
#   SCHEDULER_CONFIG  a KubeSchedulerConfiguration (kubescheduler.config.k8s.io/v1) to run
#                     kube-scheduler with; its clientConnection.kubeconfig is set to DIR/kubeconfig.
#                     Unset: no scheduler.
# Needs: etcd on PATH (apt-get install etcd-server), openssl, curl.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${K8S_BIN:-$here/bin}
cmd=${1:?usage: control-plane.sh up|down DIR}
dir=${2:?usage: control-plane.sh up|down DIR}

if [ "$cmd" = down ]; then
  for name in kube-scheduler kube-apiserver etcd; do   # apiserver before etcd, or it hangs on exit
    f="$dir/run/$name.pid"; [ -e "$f" ] || continue
    pid=$(cat "$f")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid"
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    fi
    rm -f "$f"
  done
  exit 0
fi
[ "$cmd" = up ] || { echo "usage: control-plane.sh up|down DIR" >&2; exit 2; }

command -v etcd >/dev/null || { echo "etcd is missing: apt-get install -y etcd-server" >&2; exit 1; }
API_PORT=${API_PORT:-6443}; ETCD_PORT=${ETCD_PORT:-2379}; SCHED_PORT=${SCHED_PORT:-10259}
mkdir -p "$dir/run" "$dir/logs" "$dir/pki"
pki=$dir/pki
openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=kube-apiserver" \
  -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" -keyout "$pki/apiserver.key" -out "$pki/apiserver.crt" 2>/dev/null
openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
token=$(openssl rand -hex 24)
echo "$token,admin,admin-uid,\"system:masters\"" > "$pki/tokens.csv"
echo "$token" > "$dir/token"; cp "$pki/apiserver.crt" "$dir/ca.crt"
cat > "$dir/kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster: {server: "https://127.0.0.1:$API_PORT", certificate-authority: "$dir/ca.crt"}
users:
- name: admin
  user: {token: "$token"}
contexts:
- name: local
  context: {cluster: local, user: admin, namespace: default}
current-context: local
KC

etcd --name local --data-dir "$dir/etcd" \
  --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" --initial-advertise-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
  --initial-cluster "local=http://127.0.0.1:$((ETCD_PORT + 1))" >"$dir/logs/etcd.log" 2>&1 &
echo $! > "$dir/run/etcd.pid"
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$ETCD_PORT/health" >/dev/null 2>&1 && break; sleep 0.1; done

# Without a controller-manager nothing creates ServiceAccounts or lifts node taints: those admission plugins are off.
"$bin/kube-apiserver" --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
  --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$API_PORT" \
  --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
  --token-auth-file="$pki/tokens.csv" --anonymous-auth=false --authorization-mode=AlwaysAllow \
  --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-cluster-ip-range=10.0.0.0/24 --endpoint-reconciler-type=none \
  --disable-admission-plugins=ServiceAccount,TaintNodesByCondition \
  --cert-dir="$dir/run/apiserver-certs" --v=1 >"$dir/logs/kube-apiserver.log" 2>&1 &
echo $! > "$dir/run/kube-apiserver.pid"
ready=
for _ in $(seq 1 240); do
  if curl -sf --cacert "$dir/ca.crt" -H "Authorization: Bearer $token" "https://127.0.0.1:$API_PORT/readyz" >/dev/null 2>&1; then ready=1; break; fi
  sleep 0.25
done
[ -n "$ready" ] || { echo "kube-apiserver did not become ready; see $dir/logs/kube-apiserver.log" >&2; exit 1; }

if [ -n "${SCHEDULER_CONFIG:-}" ]; then
  # clientConnection.kubeconfig must point at this control plane; everything else is the caller's file.
  grep -v '^clientConnection:' "$SCHEDULER_CONFIG" > "$dir/scheduler-config.yaml"
  printf 'clientConnection: {kubeconfig: "%s", qps: 1000, burst: 2000}\n' "$dir/kubeconfig" >> "$dir/scheduler-config.yaml"
  "$bin/kube-scheduler" --config="$dir/scheduler-config.yaml" \
    --bind-address=127.0.0.1 --secure-port="$SCHED_PORT" \
    --authentication-kubeconfig="$dir/kubeconfig" --authorization-kubeconfig="$dir/kubeconfig" \
    --v=2 >"$dir/logs/kube-scheduler.log" 2>&1 &
  echo $! > "$dir/run/kube-scheduler.pid"
  ready=
  for _ in $(seq 1 120); do
    if curl -sfk "https://127.0.0.1:$SCHED_PORT/healthz" >/dev/null 2>&1; then ready=1; break; fi
    sleep 0.25
  done
  [ -n "$ready" ] || { echo "kube-scheduler did not become healthy; see $dir/logs/kube-scheduler.log" >&2; exit 1; }
fi
echo "up: kubeconfig $dir/kubeconfig"
