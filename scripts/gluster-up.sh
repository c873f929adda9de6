#!/usr/bin/env bash
# A replicated GlusterFS volume on two local bricks, mounted twice (two FUSE clients, two caches: two "hosts")
# for test/fleet (`npm run test:fleet`, docs/fleet.md). Idempotent: what is already there is kept. Prints what
# it did and how long each step took; on failure exits 1 with a one-line reason on stderr. Needs root.
#   scripts/gluster-up.sh [--base /var/tmp/ccl-gluster] [--volume ccl] [--mount-a /mnt/ccl-a] [--mount-b /mnt/ccl-b]
set -euo pipefail

base=/var/tmp/ccl-gluster
volume=ccl
mount_a=/mnt/ccl-a
mount_b=/mnt/ccl-b
while (($#)); do
  case $1 in
    --base) base=$2 ;;
    --volume) volume=$2 ;;
    --mount-a) mount_a=$2 ;;
    --mount-b) mount_b=$2 ;;
    *) echo "gluster-up: unknown argument $1" >&2; exit 2 ;;
  esac
  shift 2
done

die() { echo "gluster-up: $*" >&2; exit 1; }
t0=$EPOCHREALTIME
mark=$t0
seconds_since() { awk -v from="$1" -v to="$EPOCHREALTIME" 'BEGIN { printf "%.2f", to - from }'; }
say() {
  echo "gluster-up: $* ($(seconds_since "$mark") s)"
  mark=$EPOCHREALTIME
}
# gluster's CLI asks before anything risky (replica 2 warns of split-brain); script mode answers yes.
g() { timeout 60 gluster --mode=script "$@"; }
last_line() { tail -n 1 <<<"$1"; }

((EUID == 0)) || die "needs root (glusterd, bricks with trusted.* xattrs, mount)"
[[ -e /dev/fuse ]] || die "no FUSE: /dev/fuse missing"
[[ $mount_a != "$mount_b" ]] || die "--mount-a and --mount-b are the same path ($mount_a)"

if ! command -v glusterd >/dev/null || ! command -v mount.glusterfs >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  out=$({ apt-get update -qq && apt-get install -y -qq --no-install-recommends glusterfs-server glusterfs-client; } 2>&1) ||
    die "apt-get install glusterfs-server glusterfs-client failed: $(last_line "$out")"
  say "installed glusterfs-server and glusterfs-client"
fi

# No systemd as PID 1 in CI containers: glusterd is started directly, and is up once its CLI answers.
if ! g volume list >/dev/null 2>&1; then
  # The pid file lets scripts/gluster-down.sh --stop-glusterd stop this daemon and no other process.
  glusterd --pid-file=/run/ccl-glusterd.pid || die "glusterd did not start (see /var/log/glusterfs/glusterd.log)"
  for _ in $(seq 1 100); do
    g volume list >/dev/null 2>&1 && break
    sleep 0.2
  done
  g volume list >/dev/null 2>&1 || die "glusterd started but 'gluster volume list' does not answer after 20 s"
  say "started glusterd $(gluster --version | head -n 1)"
fi

# glusterd refuses 127.0.0.1 and localhost as a brick host ("provide a valid hostname/ip other than
# localhost"), but takes this machine's own name even when it resolves to a loopback address.
host=$(hostname)
getent hosts "$host" >/dev/null || die "this machine's name '$host' does not resolve (add it to /etc/hosts)"

bricks=("$base/brick1" "$base/brick2")
if ! g volume info "$volume" >/dev/null 2>&1; then
  # Bricks left by a volume that no longer exists carry its volume-id xattr and would be refused.
  rm -rf "${bricks[@]}"
  mkdir -p "${bricks[@]}"
  # `force`: the bricks are on the root filesystem, which gluster refuses otherwise.
  out=$(g volume create "$volume" replica 2 "$host:${bricks[0]}" "$host:${bricks[1]}" force 2>&1) ||
    die "volume create $volume failed: $(last_line "$out")"
  say "created replica-2 volume $volume on $host:${bricks[0]} and $host:${bricks[1]}"
fi

# Coherence between clients (measured by test/fleet/gluster.test.ts, reasons in docs/fleet.md):
# stat-prefetch (md-cache) is what made mount B read a replaced file's old content; the others cache or
# delay data or directory entries on one client, which ccl's readers on another host must not see.
for option in performance.stat-prefetch performance.quick-read performance.io-cache performance.read-ahead \
  performance.readdir-ahead performance.open-behind performance.write-behind; do
  out=$(g volume set "$volume" "$option" off 2>&1) || die "volume set $volume $option off failed: $(last_line "$out")"
done
say "cache options off on $volume"

if ! g volume info "$volume" | grep -q '^Status: Started'; then
  out=$(g volume start "$volume" 2>&1) || die "volume start $volume failed: $(last_line "$out")"
  say "started volume $volume"
fi

# The kernel's FUSE caches too: without attribute-timeout=0 a mount that lost an O_EXCL race saw the
# winner's file with the size it had at creation (0) for up to a second. entry-timeout=0: a name made or
# removed through the other mount is looked up again, not taken from this kernel's dentry cache.
mount_options=attribute-timeout=0,entry-timeout=0
source="$host:/$volume"
for point in "$mount_a" "$mount_b"; do
  current=$(awk -v p="$point" '$2 == p {print $1 " " $3}' /proc/mounts | tail -n 1)
  if [[ -n $current ]]; then
    [[ $current == "$source fuse.glusterfs" ]] || die "$point is already mounted ($current), not $source"
    if pgrep -af "glusterfs .*--volfile-id=/$volume $point\$" | grep -q -- '--attribute-timeout=0 --entry-timeout=0'; then
      continue
    fi
    umount "$point" || die "$point is mounted without $mount_options and cannot be unmounted"
    say "unmounted $point (mounted without $mount_options)"
  fi
  mkdir -p "$point"
  out=$(mount -t glusterfs -o "$mount_options" "$source" "$point" 2>&1) || die "mount $source on $point failed: $(last_line "$out")"
  stat "$point" >/dev/null 2>&1 || die "$point mounted but does not answer (see /var/log/glusterfs/)"
  say "mounted $source on $point ($mount_options)"
done

echo "gluster-up: ready: $source on $mount_a and $mount_b ($(seconds_since "$t0") s in all)"
