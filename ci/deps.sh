#!/usr/bin/env bash
# Installs what building and testing Lockstep needs on a Debian 12 machine:
# Debian packages (only the missing ones) and the Go modules.
set -euo pipefail
cd "$(dirname "$0")/.."

# Build: gpgv + keyring verify the archive; go builds the initramfs;
# mmdebstrap and mksquashfs (squashfs-tools) make the system image.
# Test: QEMU with SeaBIOS and OVMF boots the ISO; xorriso, fdisk and mtools inspect it;
# drbd-utils' drbdadm-84 and drbdmeta check the agent's DRBD configuration and metadata sizes.
# python3-aiosmtpd and snmptrapd receive agent/alert's emails and traps; python3-pysmi parses its MIB.
# chromium-headless-shell is the real browser that agent/web's console test drives (chromedp).
build=(ca-certificates gpgv debian-archive-keyring mmdebstrap squashfs-tools libvirt-dev pkg-config gcc libc6-dev) # cgo: libvirt.org/go/libvirt (agent/vm)
pkgs=("${build[@]}"
      qemu-system-x86 qemu-utils ovmf seabios xorriso fdisk mtools gdisk isolinux time bc
      grub-common grub-emu kmod drbd-utils python3-aiosmtpd snmptrapd python3-pysmi chromium-headless-shell)
if [ "${1:-}" = "--build-only" ]; then
  pkgs=("${build[@]}")
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi

if ! command -v go >/dev/null 2>&1; then
  if [ -x /usr/local/go/bin/go ]; then
    export PATH=/usr/local/go/bin:$PATH
  else
    echo "deps: no Go toolchain found; install Go >= 1.24 (the module's go line selects the exact toolchain through GOTOOLCHAIN)" >&2
    exit 1
  fi
fi
go mod download >&2
