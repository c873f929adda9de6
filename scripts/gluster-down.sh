#!/usr/bin/env bash
# Undoes scripts/gluster-up.sh: unmounts both mounts, stops and deletes the volume, removes the bricks.
# With --stop-glusterd also stops the glusterd that gluster-up started (by the pid file it gave it). Idempotent; prints
# what it did; on failure exits 1 with a one-line reason on stderr.
#   scripts/gluster-down.sh [--base /var/tmp/ccl-gluster] [--volume ccl] [--mount-a /mnt/ccl-a] [--mount-b /mnt/ccl-b] [--stop-glusterd]
set -euo pipefail

base=/var/tmp/ccl-gluster
volume=ccl
mount_a=/mnt/ccl-a
mount_b=/mnt/ccl-b
stop_glusterd=false
while (($#)); do
  case $1 in
    --base) base=$2; shift ;;
    --volume) volume=$2; shift ;;
    --mount-a) mount_a=$2; shift ;;
    --mount-b) mount_b=$2; shift ;;
    --stop-glusterd) stop_glusterd=true ;;
    *) echo "gluster-down: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

die() { echo "gluster-down: $*" >&2; exit 1; }
say() { echo "gluster-down: $*"; }
g() { timeout 60 gluster --mode=script "$@"; }
last_line() { tail -n 1 <<<"$1"; }

((EUID == 0)) || die "needs root"

for point in "$mount_a" "$mount_b"; do
  if awk -v p="$point" '$2 == p && $3 == "fuse.glusterfs" {found = 1} END {exit !found}' /proc/mounts; then
    out=$(umount "$point" 2>&1) || die "umount $point failed: $(last_line "$out")"
    say "unmounted $point"
  fi
done

if command -v gluster >/dev/null && g volume info "$volume" >/dev/null 2>&1; then
  if g volume info "$volume" | grep -q '^Status: Started'; then
    out=$(g volume stop "$volume" force 2>&1) || die "volume stop $volume failed: $(last_line "$out")"
    say "stopped volume $volume"
  fi
  out=$(g volume delete "$volume" 2>&1) || die "volume delete $volume failed: $(last_line "$out")"
  say "deleted volume $volume"
fi

for brick in "$base/brick1" "$base/brick2"; do
  if [[ -e $brick ]]; then
    rm -rf "$brick"
    say "removed $brick"
  fi
done

if $stop_glusterd && [[ -s /run/ccl-glusterd.pid ]]; then
  pid=$(cat /run/ccl-glusterd.pid)
  if kill "$pid" 2>/dev/null; then
    say "stopped glusterd (pid $pid)"
  fi
fi
