#!/usr/bin/env bash
# Builds midge's FROM-scratch container image without a container engine: a hand-written OCI
# image layout (one gzipped layer, config, manifest, index) packed as an OCI archive. The same
# inputs give the same bytes, so two runs give the same digest.
#
# Usage: scripts/build-image.sh --arch arm64|amd64 --out FILE.tar
#          [--artifact DIR] [--binary FILE] [--sysroot DIR] [--rootfs DIR] [--tag NAME:TAG]
#
#   --artifact DIR  output of scripts/cross-compile.sh for this arch (DIR/bundle/…); default: run
#                   `scripts/cross-compile.sh --bundle-only` into a temporary folder.
#   --binary FILE   a `deno compile`d midge to ship instead of the Deno CLI + bundle
#                   (what deploy/Containerfile does).
#   --sysroot DIR   where the target's glibc is: default /usr/aarch64-linux-gnu (Debian's
#                   libc6-arm64-cross) for arm64 on a non-arm64 host, / on a matching host.
#   --rootfs DIR    also write the image's file tree into DIR (it must not exist yet); with no
#                   --out only the tree is written.
#   --tag NAME:TAG  name recorded for `docker load` / `podman load` (default midge:<version>).
#
# Prints the image digest (sha256 of the manifest) on stdout. Needs bash, coreutils, GNU tar and
# gzip (plus deno and npm when it runs cross-compile.sh). SOURCE_DATE_EPOCH sets every time stamp
# (default: the last commit's time, or 0 outside a git checkout).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
me="build-image.sh"

die() {
  echo "$me: $*" >&2
  exit 1
}
usage() {
  echo "usage: $me --arch arm64|amd64 --out FILE.tar [--artifact DIR] [--binary FILE] [--sysroot DIR] [--rootfs DIR] [--tag NAME:TAG]" >&2
  exit 2
}

arch="" out="" artifact="" binary="" sysroot="" rootfs_out="" tag=""
while (($#)); do
  case "$1" in
  --arch | --out | --artifact | --binary | --sysroot | --rootfs | --tag)
    [ $# -ge 2 ] || usage
    case "$1" in
    --arch) arch=$2 ;;
    --out) out=$2 ;;
    --artifact) artifact=$2 ;;
    --binary) binary=$2 ;;
    --sysroot) sysroot=$2 ;;
    --rootfs) rootfs_out=$2 ;;
    --tag) tag=$2 ;;
    esac
    shift 2
    ;;
  -h | --help) usage ;;
  *)
    echo "$me: unknown argument \"$1\"" >&2
    usage
    ;;
  esac
done
[ -n "$out" ] || [ -n "$rootfs_out" ] || usage
[ -z "$rootfs_out" ] || [ ! -e "$rootfs_out" ] || die "--rootfs $rootfs_out exists already"

# The image's user: distroless' "nonroot" id, so no passwd lookup is needed to run as it.
uid=65532
case "$arch" in
arm64)
  cpu=aarch64 triplet=aarch64-linux-gnu interpreter=lib/ld-linux-aarch64.so.1 variant=v8
  ;;
amd64)
  cpu=x86_64 triplet=x86_64-linux-gnu interpreter=lib64/ld-linux-x86-64.so.2 variant=""
  ;;
*)
  echo "$me: unknown arch \"$arch\" (expected arm64 or amd64)" >&2
  usage
  ;;
esac
# What Deno's Linux builds link against (readelf -d: NEEDED), for both arches. glibc >= 2.34
# has libdl/libpthread/librt as stubs but the binaries still name them; the NSS modules for
# /etc/hosts and DNS are inside libc.so.6 since 2.34, so nothing is dlopen()ed.
libraries=(libc.so.6 libm.so.6 libdl.so.2 libpthread.so.0 librt.so.1 libgcc_s.so.1)

if [ -z "$sysroot" ]; then
  if [ "$(uname -m)" = "$cpu" ]; then sysroot=/; else sysroot=/usr/$triplet; fi
fi
[ -d "$sysroot" ] || die "no $cpu glibc at --sysroot $sysroot (Debian: apt-get install libc6-$arch-cross libgcc-s1-$arch-cross)"

version=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$repo/deno.json" | head -n 1)
[ -n "$version" ] || die "cannot read \"version\" from deno.json"
tag=${tag:-midge:$version}
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
  SOURCE_DATE_EPOCH=$(git -C "$repo" log -1 --format=%ct 2>/dev/null || echo 0)
fi
created=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)

work=$(mktemp -d "${TMPDIR:-/tmp}/midge-image.XXXXXX")
trap 'rm -rf "$work"' EXIT

if [ -z "$binary" ] && [ -z "$artifact" ]; then
  "$repo/scripts/cross-compile.sh" --target "$cpu" --out "$work/artifact" --bundle-only
  artifact="$work/artifact/$cpu"
fi

# --- the file tree ----------------------------------------------------------------------------
root="$work/rootfs"
dirs=(etc etc/midge lib "lib/$triplet" usr usr/local usr/local/bin var var/lib var/lib/midge
  var/run var/run/secrets)
[ "$arch" = amd64 ] && dirs+=(lib64)
for dir in "${dirs[@]}"; do mkdir -p "$root/$dir"; done

put() { # put SOURCE DEST MODE
  [ -f "$1" ] || die "missing $1"
  cp -L "$1" "$root/$2"
  chmod "$3" "$root/$2"
}

find_library() {
  local name=$1 dir
  for dir in "lib/$triplet" "usr/lib/$triplet" lib usr/lib lib64 usr/lib64; do
    if [ -e "$sysroot/$dir/$name" ]; then
      echo "$sysroot/$dir/$name"
      return 0
    fi
  done
  die "$name not found in --sysroot $sysroot"
}

put "$repo/deploy/image/hosts" etc/hosts 0644
put "$repo/deploy/image/passwd" etc/passwd 0644
put "$repo/deploy/image/group" etc/group 0644
put "$repo/deploy/image/mosquitto.conf" etc/midge/mosquitto.conf 0644
lib=$(find_library "$(basename "$interpreter")")
put "$lib" "$interpreter" 0755
for name in "${libraries[@]}"; do
  lib=$(find_library "$name")
  put "$lib" "lib/$triplet/$name" 0644
done

if [ -n "$binary" ]; then
  program="usr/local/bin/midge"
  put "$binary" "$program" 0755
  entrypoint=("/$program")
else
  bundle="$artifact/bundle"
  [ -f "$bundle/midge.js" ] || die "no offline artifact in $artifact (run scripts/cross-compile.sh)"
  mkdir -p "$root/usr/local/lib" "$root/usr/local/lib/midge"
  dirs+=(usr/local/lib usr/local/lib/midge)
  program="usr/local/bin/deno"
  put "$bundle/deno" "$program" 0755
  put "$bundle/midge.js" usr/local/lib/midge/midge.js 0644
  mapfile -t flags <"$bundle/deno-run-flags"
  entrypoint=("/$program" run "${flags[@]}" /usr/local/lib/midge/midge.js)
fi

# The binary must be for the image's arch, and every library it names must be in the image.
machine=$(od -An -tx1 -j18 -N2 "$root/$program" | tr -d ' \n')
case "$arch:$machine" in
arm64:b700 | amd64:3e00) ;;
*) die "$program is not an $cpu binary (ELF machine $machine)" ;;
esac
if command -v readelf >/dev/null; then
  for name in $(readelf -d "$root/$program" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
    [ "$name" = "$(basename "$interpreter")" ] || [ -e "$root/lib/$triplet/$name" ] ||
      die "$program needs $name, which $me does not ship: add it to \"libraries\""
  done
fi

for dir in "${dirs[@]}"; do chmod 0755 "$root/$dir"; done
# The broker's state (persistence, Deno's code cache) belongs to the image's user alone.
chmod 0700 "$root/var/lib/midge"

if [ -n "$rootfs_out" ]; then
  mkdir -p "$(dirname "$rootfs_out")"
  cp -a "$root" "$rootfs_out"
  chown -R "$uid:$uid" "$rootfs_out/var/lib/midge" 2>/dev/null ||
    echo "$me: cannot chown $rootfs_out/var/lib/midge to $uid (not root); the image build sets it" >&2
  echo "$me: file tree written to $rootfs_out" >&2
fi
[ -n "$out" ] || exit 0

# --- the layer: ustar, sorted, fixed owners and times, so the bytes depend on the content only ---
tar_flags=(--format=ustar --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" --no-recursion)
(cd "$root" && find . -mindepth 1 ! -path ./var/lib/midge | sed 's#^\./##' | LC_ALL=C sort) >"$work/list"
tar -C "$root" -cf "$work/layer.tar" "${tar_flags[@]}" --owner=0 --group=0 -T "$work/list"
tar -C "$root" -rf "$work/layer.tar" "${tar_flags[@]}" --owner="$uid" --group="$uid" var/lib/midge
gzip -n -6 <"$work/layer.tar" >"$work/layer.tar.gz"

layout="$work/layout"
mkdir -p "$layout/blobs/sha256"
sha() { sha256sum "$1" | cut -d' ' -f1; }
size() { stat -c %s "$1"; }
blob() { # blob FILE: moves FILE into the layout, prints its hex digest
  local hex
  hex=$(sha "$1")
  mv "$1" "$layout/blobs/sha256/$hex"
  echo "$hex"
}
json_string() { # a JSON string; the values here never hold control characters
  local s=${1//\\/\\\\}
  printf '"%s"' "${s//\"/\\\"}"
}
json_array() {
  local first=1 item
  printf '['
  for item in "$@"; do
    ((first)) || printf ','
    first=0
    json_string "$item"
  done
  printf ']'
}

diff_id=$(sha "$work/layer.tar")
layer_size=$(size "$work/layer.tar.gz")
layer=$(blob "$work/layer.tar.gz")

# DENO_DIR: Deno's code cache, where the image's user may write; no update check over the network.
env=(PATH=/usr/local/bin NO_COLOR=1 DENO_DIR=/var/lib/midge/.deno DENO_NO_UPDATE_CHECK=1)
# The seed's container behaviour: the pushed secret wins over the default, and appears later.
cmd=(-c /var/run/secrets/mosquitto.conf -c /etc/midge/mosquitto.conf --watch)
platform="\"architecture\":\"$arch\",\"os\":\"linux\"${variant:+,\"variant\":\"$variant\"}"
second=1000000000
{
  printf '{"created":"%s",%s,' "$created" "$platform"
  printf '"config":{"User":"%s:%s","Env":%s,"Entrypoint":%s,"Cmd":%s,' "$uid" "$uid" \
    "$(json_array "${env[@]}")" "$(json_array "${entrypoint[@]}")" "$(json_array "${cmd[@]}")"
  printf '"WorkingDir":"/var/lib/midge","ExposedPorts":{"1883/tcp":{}},'
  # The persistence folder (persistence_location /var/lib/midge/) is a volume: state outlives
  # the container.
  printf '"Volumes":{"/var/lib/midge":{}},'
  # Docker reads Healthcheck from the image config; scratch has no shell, hence `midge healthcheck`.
  printf '"Healthcheck":{"Test":%s,"Interval":%d,"Timeout":%d,"StartPeriod":%d,"Retries":3},' \
    "$(json_array CMD "${entrypoint[@]}" healthcheck)" $((30 * second)) $((10 * second)) $((60 * second))
  printf '"Labels":{"org.opencontainers.image.title":"midge","org.opencontainers.image.version":"%s"}},' "$version"
  printf '"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},' "$diff_id"
  printf '"history":[{"created":"%s","created_by":"scripts/build-image.sh"}]}' "$created"
} >"$work/config.json"
config_size=$(size "$work/config.json")
config=$(blob "$work/config.json")

{
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
  printf '"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%d},' "$config" "$config_size"
  printf '"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%d}]}' "$layer" "$layer_size"
} >"$work/manifest.json"
manifest_size=$(size "$work/manifest.json")
manifest=$(blob "$work/manifest.json")

printf '{"imageLayoutVersion":"1.0.0"}' >"$layout/oci-layout"
{
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":['
  printf '{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%d,' "$manifest" "$manifest_size"
  printf '"platform":{%s},"annotations":{"org.opencontainers.image.ref.name":%s}}]}' "$platform" "$(json_string "${tag##*:}")"
} >"$layout/index.json"
# For `docker load` before Docker 25 (which reads index.json itself).
printf '[{"Config":"blobs/sha256/%s","RepoTags":[%s],"Layers":["blobs/sha256/%s"]}]' \
  "$config" "$(json_string "$tag")" "$layer" >"$layout/manifest.json"

mkdir -p "$(dirname "$out")"
(cd "$layout" && find . -mindepth 1 | sed 's#^\./##' | LC_ALL=C sort) >"$work/list"
tar -C "$layout" -cf "$work/image.tar" "${tar_flags[@]}" --owner=0 --group=0 -T "$work/list"
mv "$work/image.tar" "$out"
echo "$me: $out: $tag for linux/$arch, layer $layer_size bytes gzipped" >&2
echo "sha256:$manifest"
