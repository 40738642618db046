#!/usr/bin/env bash
# Install Debian's postgresql and chromium for the tests when missing (root only; quiet no-op otherwise).
set -u
want=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || want+=(postgresql)
command -v chromium >/dev/null 2>&1 || want+=(chromium)
[ ${#want[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "note: ${want[*]} missing and not root/apt: tests that need them will skip" >&2
  exit 0
fi
echo "installing Debian packages for the tests: ${want[*]}"
export DEBIAN_FRONTEND=noninteractive
(apt-get update -qq && apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null) \
  || echo "warning: could not install ${want[*]}; tests that need them will skip" >&2
exit 0
