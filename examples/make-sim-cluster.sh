#!/bin/sh
# Writes examples/sim-cluster.yaml, the cluster of the committed simulation example:
# 96 MI300X nodes in SPX/NPS1 (8 GPUs each) and 24 in CPX/NPS4 (8 GPUs as 64 XCD partitions), 960 GPUs,
# and three KaiwoQueues (prod, research, dev) with quotas that add up to 880 GPUs.
set -eu
out="${1:-$(dirname "$0")/sim-cluster.yaml}"
node() { # name mode gpus cu
  cat <<YAML
---
apiVersion: v1
kind: Node
metadata:
  name: $1
  labels:
    amd.com/gpu.compute-memory-partition: $2
    amd.com/gpu.cu-count: "$4"
    amd.com/gpu.product-name: AMD_Instinct_MI300X_OAM
    amd.com/gpu.vram: 192G
status:
  allocatable: {amd.com/gpu: "$3", cpu: "192", memory: 1536Gi, pods: "250"}
YAML
}
queue() { # name priority reclaim gpu-quota weight
  cat <<YAML
---
apiVersion: kaiwo.ai/v1alpha2
kind: KaiwoQueue
metadata:
  name: $1
spec:
  priority: $2
  fairness: {policy: DRF, reclaimStrategy: $3}
  resources:
    gpu: {quota: $4, overQuotaWeight: $5, limit: -1}
    cpu: {quota: $(($4 * 16)), overQuotaWeight: $5, limit: -1}
    memory: {quota: $(($4 * 128)), overQuotaWeight: $5, limit: -1}
YAML
}
{
  echo "# Simulation example cluster (written by examples/make-sim-cluster.sh): 96 x 8 MI300X SPX/NPS1, 24 x 8 MI300X CPX/NPS4, queues prod, research, dev."
  i=1; while [ $i -le 96 ]; do node "$(printf 'spx-%03d' $i)" spx_nps1 8 304; i=$((i + 1)); done
  i=1; while [ $i -le 24 ]; do node "$(printf 'cpx-%03d' $i)" cpx_nps4 64 38; i=$((i + 1)); done
  queue prod 200 aggressive 320 1
  queue research 100 conservative 400 2
  queue dev 0 conservative 160 1
} > "$out"
