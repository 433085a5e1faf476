#!/usr/bin/env bash
# Installs the Cloud Storage emulator the GCP payload store tests talk to: fake-gcs-server, built
# from the Go module proxy with `go install` (Google ships no Cloud Storage emulator). It serves the
# JSON API, uploads (simple, multipart, resumable) and downloads that @google-cloud/storage uses.
#
# Idempotent: the binary lives in a cache directory reused across runs and clones
# ($CHANGEFEED_CACHE_DIR, else $XDG_CACHE_HOME/changefeed, else ~/.cache/changefeed); a complete
# install is marked by a stamp file and skipped next time. Prints the binary's path last.
set -euo pipefail

# Keep in step with FAKE_GCS_SERVER_VERSION in tests/emulators/fake-gcs-server.ts.
FAKE_GCS_SERVER_VERSION=v1.56.1

cache_root="${CHANGEFEED_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/changefeed}"
dir="$cache_root/fake-gcs-server-$FAKE_GCS_SERVER_VERSION"
binary="$dir/bin/fake-gcs-server"
stamp="$dir/.installed"

fail() {
  echo "install-fake-gcs-server: $*" >&2
  exit 1
}

if [ -f "$stamp" ] && [ -x "$binary" ]; then
  echo "Cloud Storage emulator (fake-gcs-server $FAKE_GCS_SERVER_VERSION) already installed"
  echo "$binary"
  exit 0
fi

mkdir -p "$cache_root"
# Two runs at once (two checkouts, two CI jobs on one machine) must not build into the same place.
exec 9>"$cache_root/.fake-gcs-server.lock"
flock 9
if [ -f "$stamp" ] && [ -x "$binary" ]; then
  echo "$binary"
  exit 0
fi

# CI's PATH need not hold Go's own directory; the official tarball installs into /usr/local/go.
go=""
if [ -n "${GO:-}" ]; then
  go="$GO"
elif command -v go >/dev/null 2>&1; then
  go="$(command -v go)"
elif [ -x /usr/local/go/bin/go ]; then
  go=/usr/local/go/bin/go
fi
[ -n "$go" ] || fail "fake-gcs-server is built with Go (1.24 or later), and none was found on PATH or in /usr/local/go/bin"

echo "Installing the Cloud Storage emulator (fake-gcs-server $FAKE_GCS_SERVER_VERSION) into $dir with $("$go" version)"
rm -rf "$dir"
mkdir -p "$dir/bin"
# The module cache and build cache stay inside the cache directory too, so that the build neither
# needs nor touches a GOPATH of the user's; GOTOOLCHAIN=local because no other toolchain can be
# downloaded here, and GOFLAGS=-mod=mod so that a user's GOFLAGS=-mod=vendor cannot break it.
GOBIN="$dir/bin" GOPATH="$dir/gopath" GOCACHE="$dir/gocache" GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0 \
  "$go" install "github.com/fsouza/fake-gcs-server@$FAKE_GCS_SERVER_VERSION" ||
  fail "go install github.com/fsouza/fake-gcs-server@$FAKE_GCS_SERVER_VERSION failed (see above); it needs the Go module proxy"
# The sources and object files are hundreds of MB and are not needed to run it.
chmod -R u+w "$dir/gopath" 2>/dev/null || true
rm -rf "$dir/gopath" "$dir/gocache"

"$binary" -help >/dev/null 2>&1 || [ -x "$binary" ] || fail "the built emulator does not run: $binary"
touch "$stamp"
echo "Cloud Storage emulator installed"
echo "$binary"
