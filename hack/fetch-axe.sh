#!/usr/bin/env bash
# Fetches axe-core, the accessibility engine the portal's browser tests
# inject into each page, from the npm registry into bin/, and checks it
# against the integrity the registry published for that version. The
# product never serves or loads it; only tests read the file.
#
# Usage: hack/fetch-axe.sh VERSION OUT_DIR
# Writes OUT_DIR/axe.min.js and OUT_DIR/LICENSE (MPL-2.0). The Makefile calls
# it only when OUT_DIR/axe.min.js is missing.
set -euo pipefail

version=${1:?usage: fetch-axe.sh VERSION OUT_DIR}
out=${2:?usage: fetch-axe.sh VERSION OUT_DIR}

# The registry's dist.integrity of each pinned version
# (npm view axe-core@VERSION dist.integrity). A version not listed here is
# refused: a new pin comes with its integrity.
case "$version" in
  4.14.1) integrity=sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ== ;;
  *) echo "fetch-axe.sh: no integrity recorded for axe-core $version: add it to $0" >&2; exit 1 ;;
esac

command -v curl >/dev/null || { echo "fetch-axe.sh needs curl (apt-get install curl; .ci/run does)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
url="https://registry.npmjs.org/axe-core/-/axe-core-$version.tgz"
echo "fetching axe-core $version into $out"
curl -fsSL --retry 3 -o "$tmp/axe.tgz" "$url"

# sha512sum prints hex; the registry's integrity is base64 of the same bytes.
want=$(printf '%s' "${integrity#sha512-}" | base64 -d | od -An -v -tx1 | tr -d ' \n')
got=$(sha512sum "$tmp/axe.tgz" | cut -d' ' -f1)
if [[ "$got" != "$want" ]]; then
  echo "fetch-axe.sh: $url has sha512 $got, want $want (the registry's integrity for $version)" >&2
  exit 1
fi

tar -xzf "$tmp/axe.tgz" -C "$tmp" package/axe.min.js package/LICENSE
mkdir -p "$out"
cp "$tmp/package/LICENSE" "$out/LICENSE"
# Written last, under a temporary name, so that an interrupted fetch never
# leaves a file that make takes as done.
cp "$tmp/package/axe.min.js" "$out/axe.min.js.tmp"
mv "$out/axe.min.js.tmp" "$out/axe.min.js"
