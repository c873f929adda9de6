#!/usr/bin/env bash
# Reference dispatcher: one pass over the queue, built only on `ccl route`,
# `ccl delegate submit` and `ccl assign`. `ccl dispatch` does the same in one
# process; this script is the version to copy and adapt (add your own rules
# before the `case`, log somewhere else, notify someone...).
#
# Pending tasks go oldest first (mtime, then name); a task with a
# `.delegated` marker beside it is already remote and is skipped. Each task is
# routed: a remote target is submitted to secutools, `claude-code` is handed
# to a free account. Once no account is free, the remaining local tasks wait
# for the next pass; remote ones are still submitted.
#
# Environment:
#   CCL_CONFIG        the ccl config (read by ccl itself; also where the queue
#                     folder is found unless CCL_QUEUE is set)
#   CCL_QUEUE         the queue folder, if you would rather not have it read
#                     from the config's top-level `queue:` line
#   CCL               the ccl command (default: ccl)
#   CCL_DISPATCH_MAX  hand off at most this many tasks in one pass (default: no limit)
#   CCL_SETTLE        seconds a task must be left unmodified before it is picked
#                     (default 2: keep it equal to the config's dispatch.settle)
#   SECUTOOLS_API_KEY (or the variable your config names) for delegation
#
# Exit status: 0 when every task it tried was handed off or left waiting for
# a free account; 1 when some task could not be dispatched (it stays in
# pending/, or keeps its claim for `ccl reap`, and is tried again next pass);
# 3 when the queue folder cannot be found.
#
# Safe to run from cron or a systemd timer and to run twice at once: every
# hand-off is a claim inside ccl's queue core, so a lost race is a clean
# exit 4 here, never a duplicate.
#
# Whole tasks only: a producer should write a task elsewhere (or under a
# dot-name) and `mv` it into pending/. For one that writes in place, a task
# modified less than CCL_SETTLE seconds ago is left for the next pass. A name
# holding a control character (newline, tab, ESC...) is never handed out
# (`ccl status` lists it for an operator); symlinks are never followed.
set -euo pipefail

CCL=${CCL:-ccl}
max=${CCL_DISPATCH_MAX:-0}
settle=${CCL_SETTLE:-2}

log() { printf 'dispatch: %s\n' "$*" >&2; }

queue_folder() {
  if [[ -n ${CCL_QUEUE:-} ]]; then
    printf '%s\n' "$CCL_QUEUE"
    return
  fi
  local config=${CCL_CONFIG:-}
  if [[ -z $config ]]; then
    log 'set CCL_CONFIG (or CCL_QUEUE) to find the queue'
    exit 3
  fi
  # The top-level `queue: /path` line, with optional quotes and comment.
  local line
  line=$(grep -E '^queue:' -- "$config" | head -n 1) || true
  line=${line#queue:}
  line=${line%%#*}
  line=$(printf '%s' "$line" | sed -E "s/^[[:space:]]+//; s/[[:space:]]+\$//; s/^([\"'])(.*)\\1\$/\\2/")
  if [[ -z $line ]]; then
    log "$config: no top-level 'queue:' line; set CCL_QUEUE"
    exit 3
  fi
  printf '%s\n' "$line"
}

queue=$(queue_folder)
pending=$queue/pending
if [[ ! -d $pending ]]; then
  log "$pending: not a folder"
  exit 3
fi
# Absolute, so every path handed to ccl starts with "/" (never read as a flag)
# and names the same file whatever the session's working folder is.
pending=$(cd -- "$pending" && pwd -P)

failed=0
handed=0
accounts_free=1
# A task modified after this (epoch seconds, fractions kept as find prints them) is still settling.
settled_before=$(($(date +%s) - settle))

# Oldest first: mtime, then name. NUL-separated, so any file name is safe.
while IFS= read -r -d '' entry; do
  mtime=${entry%% *}
  name=${entry#* }
  task=$pending/$name
  [[ $name == .* ]] && continue
  # Never handed out: ccl refuses it too; `ccl status` lists it for an operator.
  [[ $name == *[[:cntrl:]]* ]] && continue
  # Oldest first: once one is too young, so is every later one.
  ((${mtime%.*} >= settled_before)) && break
  [[ -e $task.delegated ]] && continue
  [[ -f $task ]] || continue # taken by someone else meanwhile
  if ((max > 0 && handed >= max)); then
    break
  fi

  rc=0
  target=$("$CCL" route "$task") || rc=$?
  if ((rc != 0)); then
    # Gone meanwhile (another dispatcher, a person): not a failure.
    [[ -f $task ]] || continue
    log "$name: route failed (exit $rc)"
    failed=1
    continue
  fi

  case $target in
  claude-code)
    ((accounts_free)) || continue
    rc=0
    "$CCL" assign "$task" >/dev/null || rc=$?
    case $rc in
    0)
      log "$name: assigned"
      handed=$((handed + 1))
      ;;
    4)
      # Refused: either another dispatcher took the task first (it is gone
      # from pending/), or no account is free (it is still here).
      if [[ -f $task ]]; then
        log "$name: no free account; local tasks wait for the next pass"
        accounts_free=0
      fi
      ;;
    *)
      log "$name: assign failed (exit $rc); it stays in pending/"
      failed=1
      ;;
    esac
    ;;
  *)
    rc=0
    job=$("$CCL" delegate submit "$task") || rc=$?
    case $rc in
    0)
      log "$name: submitted to $target as job $job"
      handed=$((handed + 1))
      ;;
    4) ;; # already delegated by someone else meanwhile
    *)
      log "$name: submit to $target failed (exit $rc)"
      failed=1
      ;;
    esac
    ;;
  esac
done < <(LC_ALL=C find "$pending" -mindepth 1 -maxdepth 1 -type f -name '*.md' -printf '%T@ %f\0' | LC_ALL=C sort -z -k1,1n -k2)

exit "$failed"
