#!/usr/bin/env bash
# Builds midge for Linux on aarch64 (Raspberry Pi, 64-bit OS) and x86_64, two ways:
#
#   DIR/<arch>/midge              `deno compile` single binary; needs Deno's runtime (denort) for the
#                                 target, which deno downloads, or DENORT_BIN pointing at one.
#   DIR/<arch>/bundle/midge.js    `deno bundle` of main.ts with every npm dependency inlined, plus
#   DIR/<arch>/bundle/deno        the Deno CLI of the same version for that arch (npm package
#                                 @deno/linux-<arch>-glibc): builds offline from the npm registry.
#   DIR/<arch>/bundle/deno-run-flags   the `deno run` flags, one a line, and
#   DIR/<arch>/bundle/midge       a launcher: `deno run <flags> midge.js "$@"`.
#
# Both start the same main.ts with the same permissions as `deno task start`.
#
# Usage: scripts/cross-compile.sh [--target aarch64|x86_64|all] [--out DIR]
#                                 [--bundle-only | --compile-only | --fetch-only]
#
# Environment:
#   DENORT_BIN                 denort to use instead of downloading it (must match the target arch);
#   DENORT_BIN_AARCH64, DENORT_BIN_X86_64   the same per target, for --target all.
#   MIDGE_CACHE_DIR            where the npm Deno CLIs are kept (default ~/.cache/midge).
#
# Exit codes: 0 done; 1 error; 2 bad usage; 3 the Deno runtime for `deno compile` cannot be had
# (the offline bundle, unless --compile-only, has been written all the same).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
me="cross-compile.sh"

die() {
  echo "$me: $*" >&2
  exit 1
}

usage() {
  echo "usage: $me [--target aarch64|x86_64|all] [--out DIR] [--bundle-only | --compile-only | --fetch-only]" >&2
  exit 2
}

target=all
out="$repo/dist"
mode=both
while (($#)); do
  case "$1" in
  --target)
    target=${2:-}
    shift 2 || usage
    ;;
  --target=*)
    target=${1#*=}
    shift
    ;;
  --out)
    out=${2:-}
    shift 2 || usage
    ;;
  --out=*)
    out=${1#*=}
    shift
    ;;
  --bundle-only) mode=bundle && shift ;;
  --compile-only) mode=compile && shift ;;
  --fetch-only) mode=fetch && shift ;;
  -h | --help) usage ;;
  *)
    echo "$me: unknown argument \"$1\"" >&2
    usage
    ;;
  esac
done

case "$target" in
aarch64 | x86_64) arches=("$target") ;;
all) arches=(aarch64 x86_64) ;;
*)
  echo "$me: unknown target \"$target\" (expected aarch64, x86_64 or all)" >&2
  exit 2
  ;;
esac
[ -n "$out" ] || usage
command -v deno >/dev/null || die "deno is not on PATH"

# The bundle runs on the Deno CLI of the version that built it.
deno_version=$(deno --version | sed -n '1s/^deno \([0-9][^ ]*\).*/\1/p')
[ -n "$deno_version" ] || die "cannot read the version of deno on PATH"
cache="${MIDGE_CACHE_DIR:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/midge}"

rust_triple() { echo "$1-unknown-linux-gnu"; }
npm_package() {
  case "$1" in
  aarch64) echo "@deno/linux-arm64-glibc" ;;
  x86_64) echo "@deno/linux-x64-glibc" ;;
  esac
}

# ELF e_machine of a file: aarch64, x86_64, or something else.
elf_arch() {
  local magic machine
  magic=$(od -An -tx1 -N4 "$1" 2>/dev/null | tr -d ' \n')
  [ "$magic" = "7f454c46" ] || {
    echo "not-elf"
    return
  }
  machine=$(od -An -tx1 -j18 -N2 "$1" | tr -d ' \n')
  case "$machine" in
  b700) echo aarch64 ;;
  3e00) echo x86_64 ;;
  *) echo "machine-0x$machine" ;;
  esac
}

# Permission flags of `deno task start` (and its --v8-flags: a 2 MiB young generation keeps idle
# memory per connection down), so every artifact runs with the same grants and flags as the task.
permission_flags() {
  (cd "$repo" && deno eval --no-lock '
    const config = JSON.parse(Deno.readTextFileSync("deno.json"));
    const start = String(config.tasks?.start ?? "");
    const flags = start.split(/\s+/)
      .filter((word) => /^--allow-[a-z-]+(=.*)?$/.test(word) || /^--v8-flags=/.test(word));
    if (flags.length === 0) throw new Error("deno.json task \"start\" grants no --allow-* flags");
    console.log(flags.join("\n"));
  ')
}

# Downloads (once) the Deno CLI for an arch from the npm registry; prints its path.
fetch_deno() {
  local arch=$1 package dir tmp tarball
  package=$(npm_package "$arch")
  dir="$cache/deno-$deno_version-$arch"
  if [ ! -x "$dir/deno" ]; then
    command -v npm >/dev/null || die "npm is needed to fetch $package@$deno_version"
    echo "$me: fetching $package@$deno_version from npm" >&2
    mkdir -p "$cache"
    tmp=$(mktemp -d "$cache/.fetch.XXXXXX")
    # npm checks the tarball against the registry's integrity hash.
    tarball=$(cd "$tmp" && npm pack --silent "$package@$deno_version" | tail -n 1) ||
      die "npm pack $package@$deno_version failed"
    tar -xzf "$tmp/$tarball" -C "$tmp" package/deno
    [ "$(elf_arch "$tmp/package/deno")" = "$arch" ] ||
      die "$package@$deno_version does not hold an $arch deno"
    # Renamed into place as a whole folder, so parallel runs never see a half-written deno.
    mkdir "$tmp/ready"
    mv "$tmp/package/deno" "$tmp/ready/deno"
    [ ! -d "$dir" ] || [ -x "$dir/deno" ] || rm -rf "$dir"
    mv -T "$tmp/ready" "$dir" 2>/dev/null || [ -x "$dir/deno" ] || die "cannot write $dir"
    rm -rf "$tmp"
  fi
  echo "$dir/deno"
}

build_bundles() {
  local flags js arch dir deno_bin
  mapfile -t flags <<<"$permissions"
  # --no-config/--no-lock: no deno.json is near the bundle where it runs; --no-remote/--no-npm:
  # everything is inlined, so nothing may be fetched at run time.
  flags=(--no-config --no-lock --no-remote --no-npm "${flags[@]}")
  js=$(mktemp "${TMPDIR:-/tmp}/midge-bundle.XXXXXX")
  (cd "$repo" && deno bundle --quiet --platform deno --packages bundle -o "$js" main.ts) ||
    die "deno bundle failed"
  # esbuild marks each inlined module with a comment holding its path in this machine's Deno
  # cache, and names the lazy wrappers of dynamically imported modules by that path too; keep
  # only the package part so the bundle is byte-identical wherever it is built.
  sed -i -E -e 's#^// [^ ]*/npm/registry\.npmjs\.org/#// npm:#' \
    -e 's#"[^" ]*/npm/registry\.npmjs\.org/#"npm:#g' "$js"
  for arch in "${arches[@]}"; do
    dir="$out/$arch/bundle"
    mkdir -p "$dir"
    deno_bin=$(fetch_deno "$arch")
    cp "$deno_bin" "$dir/deno.tmp"
    chmod 0755 "$dir/deno.tmp"
    mv "$dir/deno.tmp" "$dir/deno"
    cp "$js" "$dir/midge.js"
    chmod 0644 "$dir/midge.js"
    printf '%s\n' "${flags[@]}" >"$dir/deno-run-flags"
    # shellcheck disable=SC2016 # $here and $@ belong to the launcher, not to this script
    {
      echo '#!/bin/sh'
      echo '# midge from the offline artifact: the Deno CLI running the bundled main.ts.'
      echo 'here=$(dirname "$0")'
      echo '# Deno would otherwise look for a newer Deno release over the network now and then.'
      echo 'export DENO_NO_UPDATE_CHECK=1'
      printf 'exec "$here/deno" run'
      printf ' %s' "${flags[@]}"
      echo ' "$here/midge.js" "$@"'
    } >"$dir/midge"
    chmod 0755 "$dir/midge"
    echo "$me: $dir/{deno,midge.js} ready" >&2
  done
  rm -f "$js"
}

# The runtime for a target: DENORT_BIN_<ARCH>, else DENORT_BIN, else empty (deno downloads it).
runtime_for() {
  local arch=$1 var value
  var="DENORT_BIN_$(echo "$arch" | tr '[:lower:]' '[:upper:]')"
  value=${!var:-${DENORT_BIN:-}}
  [ -n "$value" ] || return 0
  [ -f "$value" ] || die "DENORT_BIN=$value is not a file"
  local found
  found=$(elf_arch "$value")
  [ "$found" = "$arch" ] ||
    die "DENORT_BIN=$value is $found, not $arch: set DENORT_BIN_$(echo "$arch" | tr '[:lower:]' '[:upper:]') for each target"
  echo "$value"
}

compile_one() {
  local arch=$1 runtime=$2 triple flags log status
  triple=$(rust_triple "$arch")
  mapfile -t flags <<<"$permissions"
  mkdir -p "$out/$arch"
  log=$(mktemp "${TMPDIR:-/tmp}/midge-compile.XXXXXX")
  status=0
  (
    cd "$repo"
    if [ -n "$runtime" ]; then export DENORT_BIN="$runtime"; else unset DENORT_BIN; fi
    # No --include: main.ts imports every module statically and reads no file of the repo at run
    # time (configs come from -c); a file read through import.meta.dirname would be listed here.
    # --no-check, as `deno bundle` does: both artifacts come from the same code, and type checks
    # are `deno task check`'s job, which CI runs before anything is released.
    deno compile --quiet --no-check --target "$triple" --output "$out/$arch/midge" "${flags[@]}" main.ts
  ) >"$log" 2>&1 || status=$?
  if [ "$status" -ne 0 ]; then
    # deno cannot fetch denort: name the way out in one line instead of its stack of causes.
    if [ -z "$runtime" ] && grep -qE 'denort|base binary' "$log"; then
      rm -f "$log"
      echo "$me: cannot get the Deno runtime for $triple: deno compile could not download denort-$triple.zip (Deno $deno_version). Unzip that file where it can be downloaded and run again with DENORT_BIN=/path/to/denort (DENORT_BIN_$(echo "$arch" | tr '[:lower:]' '[:upper:]') for this target only); the offline artifact needs no runtime: $me --bundle-only." >&2
      return 3
    fi
    cat "$log" >&2
    rm -f "$log"
    die "deno compile for $triple failed"
  fi
  rm -f "$log"
  echo "$me: $out/$arch/midge ready" >&2
}

case "$mode" in
fetch) ;;
*) permissions=$(permission_flags) ;;
esac

case "$mode" in
fetch)
  for arch in "${arches[@]}"; do fetch_deno "$arch" >/dev/null; done
  exit 0
  ;;
bundle | both) build_bundles ;;
esac

if [ "$mode" = compile ] || [ "$mode" = both ]; then
  # Check every DENORT_BIN before compiling anything (die must not run inside `||`).
  runtimes=()
  for arch in "${arches[@]}"; do
    runtime=$(runtime_for "$arch")
    runtimes+=("$runtime")
  done
  result=0
  for i in "${!arches[@]}"; do
    compile_one "${arches[$i]}" "${runtimes[$i]}" || result=$?
  done
  exit "$result"
fi
