#!/usr/bin/env bash
# Install what the browser test (tests/test_serve.py, `physlora serve` in Chromium) needs on a fresh
# Debian/Ubuntu machine, as root: Debian's Chromium and a font for the page. Idempotent: when both are
# already there it prints one line and touches nothing (no apt-get update).
# The playwright Python package comes from pip (the project's test extras); never run `playwright install`:
# the test drives /usr/bin/chromium.
set -euo pipefail

packages=(chromium fonts-liberation)

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
    echo "ci-browser-deps: ${packages[*]} already installed ($(/usr/bin/chromium --version 2>/dev/null | head -n1))"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "ci-browser-deps: installing ${missing[*]} needs root; run: sudo $0" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "ci-browser-deps: apt-get not found; install ${missing[*]} with this system's package manager" >&2
    exit 1
fi

echo "ci-browser-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --reinstall "${missing[@]}" >/dev/null
/usr/bin/chromium --version
