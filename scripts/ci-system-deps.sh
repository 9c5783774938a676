#!/usr/bin/env bash
# Install the system packages the tests need on a fresh Debian/Ubuntu machine, as root: Debian's Chromium
# and a font for the browser test (`physlora serve` in Chromium), and libseccomp2, which the tools sandbox's
# syscall filter loads (without it the seccomp tests skip instead of running). Idempotent: when both are
# already there it prints one line and touches nothing (no apt-get update).
# The playwright Python package comes from pip (the project's test extras); never run `playwright install`:
# the test drives /usr/bin/chromium.
set -euo pipefail

packages=(chromium fonts-liberation libseccomp2)

missing=()
for pkg in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done
if [ ! -x /usr/bin/chromium ] && [[ ! " ${missing[*]} " == *" chromium "* ]]; then
    missing+=(chromium)  # package recorded as installed but the binary is gone: reinstall it
fi

if [ ${#missing[@]} -eq 0 ]; then
    echo "ci-system-deps: ${packages[*]} already installed ($(/usr/bin/chromium --version 2>/dev/null | head -n1))"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "ci-system-deps: installing ${missing[*]} needs root; run: sudo $0" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "ci-system-deps: apt-get not found; install ${missing[*]} with this system's package manager" >&2
    exit 1
fi

echo "ci-system-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --reinstall "${missing[@]}" >/dev/null
/usr/bin/chromium --version
