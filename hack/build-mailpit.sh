#!/usr/bin/env bash
# Builds Mailpit, the SMTP sink with an HTTP API that the notifier's tests
# deliver to and `make run` starts, from the Go module pinned in
# hack/tools/mailpit, as hack/build-envtest.sh builds the control plane.
#
# Usage: hack/build-mailpit.sh OUT
# Cold: 2 minutes of CPU (about 11 minutes of wall time on 2 cores shared
# with other builds); the Makefile calls it only when OUT is missing.
#
# The Go module carries Mailpit's server and API but not its web UI's
# JavaScript, which Mailpit's own release builds with npm; `make run`
# therefore shows the inbox through a small page of its own over the API.
set -euo pipefail

out=${1:?usage: build-mailpit.sh OUT}
here=$(cd "$(dirname "$0")" && pwd)
mod="$here/tools/mailpit"
version=$(awk '$1 == "require" && $2 == "github.com/axllent/mailpit" {print $3} $1 == "github.com/axllent/mailpit" {print $2}' "$mod/go.mod")
mkdir -p "$(dirname "$out")"
out=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")
echo "building mailpit $version into $out"
(cd "$mod" && GOWORK=off CGO_ENABLED=0 go build -trimpath \
  -ldflags "-s -w -X github.com/axllent/mailpit/config.Version=$version" \
  -o "$out" github.com/axllent/mailpit)
