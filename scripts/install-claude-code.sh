#!/usr/bin/env bash
# Installs the pinned Claude Code CLI that `npm run test:real` runs (docs/real-claude-code.md), into a
# cache folder outside the repository: about 360 MB, so the default test lane never needs it.
#
#   scripts/install-claude-code.sh [DIR]
#
# DIR defaults to $CCL_CLAUDE_CACHE, else ~/.cache/ccl/claude-code-<version>. Nothing is downloaded when
# DIR/node_modules/.bin/claude --version already prints the pinned version. The version is pinned once,
# in package.json ("config": {"claudeCodeVersion": ...}).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
version=$(node -p 'require(process.argv[1]).config.claudeCodeVersion' "$repo/package.json")
if [[ ! $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
  echo "install-claude-code: package.json config.claudeCodeVersion is '$version', not a version" >&2
  exit 2
fi

dir=${1:-${CCL_CLAUDE_CACHE:-$HOME/.cache/ccl/claude-code-$version}}
bin="$dir/node_modules/.bin/claude"

installed() {
  local out
  out=$("$bin" --version 2>/dev/null) || return 1
  [[ $out == "$version "* ]]
}

if installed; then
  echo "install-claude-code: $version already in $dir"
  exit 0
fi

mkdir -p "$dir"
# The native binary comes as an optional dependency (one per platform); --prefix with no package.json in
# DIR installs into DIR/node_modules and, with --no-save, writes nothing else there.
npm install --no-save --no-audit --no-fund --loglevel=error --prefix "$dir" "@anthropic-ai/claude-code@$version"

if ! installed; then
  echo "install-claude-code: $bin --version does not print $version after the install:" >&2
  "$bin" --version >&2 || true
  exit 1
fi
echo "install-claude-code: $("$bin" --version) in $dir"
