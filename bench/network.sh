#!/usr/bin/env bash
# Network benchmark: setup+teardown per container, DNS latency from inside a
# container, TCP throughput through a published port (rcompose vs socat).
# Needs root, iproute2, nftables, busybox-static, util-linux, socat.
# Everything runs in a throwaway network namespace: no host interface,
# route or firewall rule is touched, no traffic leaves the machine.
# Targets: setup+teardown <= 10 ms median; DNS <= 1 ms median;
# rcompose throughput >= socat.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
cargo test --release --test network_bench -- --ignored --nocapture --test-threads=1 2>&1 | tee /dev/stderr | grep -o 'BENCH.*' || {
    echo "benchmark produced no figures" >&2
    exit 1
}
