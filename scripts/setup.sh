#!/usr/bin/env bash
# One-time set-up of a machine: checks Node.js, installs the Debian packages the tests use
# when missing (ffmpeg for video keyframes, chromium for the console's browser tests, strace
# for the blob-durability test),
# then the npm dependencies exactly as locked. Safe to run again: it only does what is
# missing. Exits non-zero with a message when something the project cannot run without
# is missing; a missing optional system package is a warning (only its tests fail).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'setup: %s\n' "$*" >&2; }

# --- Node.js and npm -----------------------------------------------------------------
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  say "Node.js >= 20.10 and npm are required (Debian: apt-get install nodejs npm)."
  exit 1
fi
if ! node -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>20||(a===20&&b>=10)?0:1)'; then
  say "Node.js >= 20.10 is required; this is $(node -v)."
  exit 1
fi

# --- Debian packages -------------------------------------------------------------------
need=()
command -v ffmpeg >/dev/null 2>&1 || need+=(ffmpeg)
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || need+=(chromium)
command -v strace >/dev/null 2>&1 || need+=(strace)
if [ ${#need[@]} -gt 0 ]; then
  sudo_cmd=()
  [ "$(id -u)" = 0 ] || sudo_cmd=(sudo -n)
  if command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" = 0 ] || command -v sudo >/dev/null 2>&1; }; then
    say "installing ${need[*]} …"
    if ! { "${sudo_cmd[@]}" apt-get update -qq && \
           "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; }; then
      say "WARNING: could not install ${need[*]}; the tests that need them will fail."
    fi
  else
    say "WARNING: please install ${need[*]} (Debian packages); the tests that need them will fail."
  fi
fi

# --- npm dependencies ------------------------------------------------------------------
# `npm ci` installs exactly package-lock.json; it runs again only when the lock changed
# since the last install (npm writes node_modules/.package-lock.json on every install).
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm dependencies (npm ci) …"
  if ! npm ci --no-audit --no-fund; then
    # npm ci refuses a lock that lacks entries for optional platform packages the registry
    # could not serve when the lock was made (cbor-extract's prebuilt binaries: cbor-x then
    # uses its pure-JS decoder). npm install resolves the same locked versions and skips
    # what it cannot fetch.
    say "npm ci refused the lock file; falling back to npm install (same locked versions) …"
    npm install --no-audit --no-fund
    if command -v git >/dev/null 2>&1 && git rev-parse --is-inside-work-tree >/dev/null 2>&1 && ! git diff --quiet -- package-lock.json; then
      say "WARNING: npm install changed package-lock.json; review and commit it, or restore it with git checkout."
    fi
  fi
fi
# The image decoder ships as a prebuilt platform package; say so clearly if it is missing.
if ! node -e "require('sharp')" >/dev/null 2>&1; then
  say "sharp (libvips) cannot load on this platform: $(node -e "try{require('sharp')}catch(e){console.log(e.message.split('\n')[0])}")"
  exit 1
fi

# --- shared test data ------------------------------------------------------------------
if [ ! -f ../shared/README.md ] && [ -z "${CLAIMLENS_SHARED:-}" ]; then
  say "WARNING: ../shared (the test data beside the checkout) is missing; \`npm test\` needs it (or CLAIMLENS_SHARED)."
fi
say "ready."
