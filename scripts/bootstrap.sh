#!/usr/bin/env bash
# Installs every Debian 12 package hapf needs to build, test and run.
# Idempotent and non-interactive: when everything is already installed it
# returns in well under a second without touching the network.
set -euo pipefail

PACKAGES=(
  # build
  build-essential cmake ninja-build ccache pkg-config git clang-14 libclang-rt-14-dev lld-14 clang-format
  # libraries
  libmnl-dev libnetfilter-queue-dev libssl-dev libcli11-dev nlohmann-json3-dev libcpp-httplib-dev
  libfmt-dev libabsl-dev libpcap-dev libgtest-dev libgmock-dev googletest libbenchmark-dev
  # runtime tools and test oracles
  iproute2 nftables iptables tcpdump tshark python3 python3-scapy ucarp arping iputils-ping
  openssh-server openssh-client socat procps psmisc kmod ethtool
  # the web status page's browser test (Playwright drives Debian's chromium)
  chromium
  # the peers measured beside hapf (bench/peers): never started as services, the harness runs them
  keepalived conntrackd conntrack
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "bootstrap: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  # tshark asks whether non-root users may capture; answer once, quietly.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
  apt-get update -qq
  # keepalived and conntrackd must not start as system services with their
  # default configurations (conntrackd would talk on the host's real network):
  # policy-rc.d refuses every service start during the install.
  policy=/usr/sbin/policy-rc.d
  had_policy=0; [[ -e $policy ]] && had_policy=1
  ((had_policy)) || { printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod 755 "$policy"; }
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  ((had_policy)) || rm -f "$policy"
fi
# The machine's own Node.js is used when present (node 18+ runs playwright-core);
# otherwise Debian's.
if ! command -v npm >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
# playwright-core only (no browser download: it drives /usr/bin/chromium),
# kept outside the tree so every clone shares it.
HAPF_NODE_DIR=${HAPF_NODE_DIR:-/opt/hapf-node}
if [[ ! -f $HAPF_NODE_DIR/node_modules/playwright-core/package.json ]]; then
  echo "bootstrap: installing playwright-core into $HAPF_NODE_DIR" >&2
  mkdir -p "$HAPF_NODE_DIR"
  npm install --prefix "$HAPF_NODE_DIR" --no-audit --no-fund --loglevel=error playwright-core@1 >/dev/null
fi
