#!/usr/bin/env bash
# Builds Versity's S3 gateway, the S3-compatible server that the backup tests
# upload to and restore from, from its Go module at a pinned version: S3 over a
# plain directory (`versitygw --access A --secret S --port :P posix DIR`), no
# download of a prebuilt server.
#
# Usage: hack/build-versitygw.sh VERSION OUT
# Cold: about 2-3 minutes on 2 shared cores; the Makefile calls it only when
# OUT is missing.
set -euo pipefail

version=${1:?usage: build-versitygw.sh VERSION OUT}
out=${2:?usage: build-versitygw.sh VERSION OUT}
mkdir -p "$(dirname "$out")"
out=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "building versitygw $version into $out"
GOBIN="$tmp" GOWORK=off CGO_ENABLED=0 go install -trimpath -ldflags "-s -w" \
  "github.com/versity/versitygw/cmd/versitygw@$version"
mv "$tmp/versitygw" "$out"
