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
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
