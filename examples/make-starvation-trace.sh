#!/bin/sh
# Writes examples/starvation-trace.yaml, the trace of benchmarks/results/Starvation.md: on the two nodes of
# examples/starvation-cluster.yaml (16 MI300X), a 0.25-GPU pod every EVERY seconds (default 9) running 5 to 15
# minutes (10 on average: at 9 s, 16.7 GPUs asked of 16, so the cluster stays busy and small pods queue), and a 4-GPU
# pod of 20 minutes every 30 minutes from minute 20 on (6 in 3 hours). Deterministic: the same file every time.
# usage: make-starvation-trace.sh [OUT] [EVERY]
set -eu
out="${1:-$(dirname "$0")/starvation-trace.yaml}"
every="${2:-9}"
awk -v every="$every" 'BEGIN {
  horizon = 10800
  print "# kaiwo simulation trace, written by examples/make-starvation-trace.sh: a stream of 0.25-GPU pods (every " every " s, 5-15 min)"
  print "# and a 4-GPU pod of 20 min every 30 min from minute 20, on examples/starvation-cluster.yaml (2 x 8 MI300X)."
  print "horizon: " horizon
  print "pods:"
  big = 0
  for (k = 0; k * every < horizon; k++) {
    t = k * every
    while (big < 6 && 1200 + big * 1800 <= t) {
      printf "- {\"name\": \"large-%02d\", \"namespace\": \"train\", \"arrival\": %d, \"duration\": 1200, \"resources\": {\"amd.com/gpu\": \"4\"}}\n", big, 1200 + big * 1800
      big++
    }
    printf "- {\"name\": \"small-%05d\", \"namespace\": \"infer\", \"arrival\": %d, \"duration\": %d, \"annotations\": {\"kaiwo.ai/gpu-fraction\": \"0.25\"}}\n", k, t, 300 + (k * 137) % 600
  }
}' > "$out"
