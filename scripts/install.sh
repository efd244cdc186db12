#!/usr/bin/env bash
# Installs midge as a systemd service, without Docker (e.g. on a Raspberry Pi with a 64-bit OS):
#   /usr/local/bin/midge                 the binary (or a launcher for the offline artifact)
#   /etc/systemd/system/midge.service    the unit (deploy/systemd/midge.service)
#   /etc/midge/mosquitto.conf            the config, written only when there is none
#   /var/lib/midge                       state, made by systemd (StateDirectory=) for its DynamicUser
#
# Usage: scripts/install.sh [--binary FILE | --from DIR] [--root DIR] [--no-start]
#        scripts/install.sh --uninstall [--purge] [--root DIR]
#
#   --binary FILE  a `deno compile`d midge (a release asset or scripts/cross-compile.sh output).
#   --from DIR     a scripts/cross-compile.sh output folder for this machine's arch: DIR/midge,
#                  else the offline artifact DIR/bundle/ (Deno CLI + midge.js, installed into
#                  /usr/local/lib/midge). Default: dist/<arch of this machine>.
#   --root DIR     install below DIR instead of / (packaging, tests); systemctl is not called.
#   --no-start     do not enable and start the service.
#   --uninstall    stop and disable the service, remove the binary and the unit; the config and
#                  the state stay unless --purge.
# Next to a release's binary this script also finds midge.service and mosquitto.conf beside it.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
me="install.sh"

die() {
  echo "$me: $*" >&2
  exit 1
}
usage() {
  echo "usage: $me [--binary FILE | --from DIR] [--root DIR] [--no-start] | --uninstall [--purge] [--root DIR]" >&2
  exit 2
}

binary="" from="" root="/" start=1 uninstall=0 purge=0
while (($#)); do
  case "$1" in
  --binary | --from | --root)
    [ $# -ge 2 ] || usage
    case "$1" in
    --binary) binary=$2 ;;
    --from) from=$2 ;;
    --root) root=$2 ;;
    esac
    shift 2
    ;;
  --no-start) start=0 && shift ;;
  --uninstall) uninstall=1 && shift ;;
  --purge) purge=1 && shift ;;
  -h | --help) usage ;;
  *)
    echo "$me: unknown argument \"$1\"" >&2
    usage
    ;;
  esac
done
[ -z "$binary" ] || [ -z "$from" ] || die "give --binary or --from, not both"

# $dest prefixes every installed path: empty for the real system.
dest=${root%/}
[ -z "$dest" ] || [ -d "$dest" ] || die "--root $root is not a folder"
live=0
if [ -z "$dest" ]; then
  [ "$(id -u)" -eq 0 ] || die "run as root (sudo $0 …), or give --root DIR"
  # systemctl only where systemd is running: not in a chroot or a container build.
  if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then live=1; fi
fi

find_file() { # the first of several candidate paths that exists
  local path
  for path in "$@"; do
    if [ -f "$path" ]; then
      echo "$path"
      return 0
    fi
  done
  die "cannot find $(basename "$1") (looked in: $*)"
}

if ((uninstall)); then
  if ((live)); then
    systemctl disable --now midge.service 2>/dev/null || true
  fi
  rm -f "$dest/etc/systemd/system/midge.service" "$dest/usr/local/bin/midge"
  rm -rf "$dest/usr/local/lib/midge"
  if ((purge)); then
    # DynamicUser= keeps the real folders under private/ and links them from /var/lib, /var/cache.
    rm -rf "$dest/etc/midge" "$dest/var/lib/midge" "$dest/var/lib/private/midge" \
      "$dest/var/cache/midge" "$dest/var/cache/private/midge"
  fi
  ((live)) && systemctl daemon-reload
  echo "$me: midge uninstalled$( ((purge)) && echo ", config and state removed" || echo "; /etc/midge and /var/lib/midge kept (--purge removes them)")" >&2
  exit 0
fi

unit=$(find_file "$here/../deploy/systemd/midge.service" "$here/midge.service")
config=$(find_file "$here/../deploy/image/mosquitto.conf" "$here/mosquitto.conf")

machine=$(uname -m)
case "$machine" in arm64) machine=aarch64 ;; amd64) machine=x86_64 ;; esac
if [ -z "$binary" ]; then
  from=${from:-$here/../dist/$machine}
  if [ -f "$from/midge" ]; then
    binary="$from/midge"
  elif [ -f "$from/bundle/midge.js" ] && [ -f "$from/bundle/deno" ]; then
    bundle="$from/bundle"
  else
    die "no midge in $from: build one with scripts/cross-compile.sh, or give --binary FILE"
  fi
fi

# On the real system, refuse a binary for another CPU rather than a service that cannot start.
program=${binary:-${bundle:-}/deno}
elf=$(od -An -tx1 -j18 -N2 "$program" | tr -d ' \n')
case "$elf" in b700) elf=aarch64 ;; 3e00) elf=x86_64 ;; esac
if [ -z "$dest" ] && [ "$elf" != "$machine" ]; then
  die "$program is not for this machine ($elf, this is $machine)"
fi

install -d -m 0755 "$dest/usr/local/bin" "$dest/etc/systemd/system" "$dest/etc/midge"
if [ -n "$binary" ]; then
  rm -rf "$dest/usr/local/lib/midge"
  install -m 0755 "$binary" "$dest/usr/local/bin/midge.new"
else
  install -d -m 0755 "$dest/usr/local/lib/midge"
  install -m 0755 "$bundle/deno" "$dest/usr/local/lib/midge/deno"
  install -m 0644 "$bundle/midge.js" "$dest/usr/local/lib/midge/midge.js"
  mapfile -t flags <"$bundle/deno-run-flags"
  # shellcheck disable=SC2016 # $@ belongs to the launcher
  {
    echo '#!/bin/sh'
    echo '# midge from the offline artifact (scripts/install.sh): Deno running the bundled main.ts.'
    echo 'export DENO_NO_UPDATE_CHECK=1'
    printf 'exec /usr/local/lib/midge/deno run'
    printf ' %s' "${flags[@]}"
    echo ' /usr/local/lib/midge/midge.js "$@"'
  } >"$dest/usr/local/bin/midge.new"
  chmod 0755 "$dest/usr/local/bin/midge.new"
fi
# Renamed into place, so a running midge's binary is never overwritten in place.
mv -f "$dest/usr/local/bin/midge.new" "$dest/usr/local/bin/midge"
install -m 0644 "$unit" "$dest/etc/systemd/system/midge.service"
if [ ! -e "$dest/etc/midge/mosquitto.conf" ]; then
  install -m 0644 "$config" "$dest/etc/midge/mosquitto.conf"
else
  echo "$me: keeping the existing $dest/etc/midge/mosquitto.conf" >&2
fi

if ((live)); then
  systemctl daemon-reload
  if ((start)); then
    systemctl enable midge.service
    systemctl restart midge.service
    echo "$me: midge is running: systemctl status midge; journalctl -u midge" >&2
  fi
else
  echo "$me: installed below ${dest:-/}; enable it with: systemctl enable --now midge" >&2
fi
