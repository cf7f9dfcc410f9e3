#!/usr/bin/env bash
# Declares metadata.name (type string, nothing more) in the schema of a CRD
# that controller-gen wrote with a bare `metadata: {type: object}`. A
# validation rule may point its fieldPath only at a field the schema
# declares; with this, the LeapTerm's name-length rule reports the field
# metadata.name instead of the object's root (which the API server prints
# as "<nil>"). The API server allows a CRD to declare metadata.name and
# metadata.generateName and nothing else of metadata.
set -euo pipefail
crd=$1
grep -q '^              name:$' <(sed -n '/^          metadata:$/,/^          [a-z]/p' "$crd") && exit 0
awk '
  prev ~ /^          metadata:$/ && $0 ~ /^            type: object$/ {
    print "            properties:"; print "              name:"; print "                type: string"; done = 1
  }
  { print; prev = $0 }
  END { if (!done) { print "crd-metadata-name: no bare root metadata in " FILENAME > "/dev/stderr"; exit 1 } }
' "$crd" > "$crd.tmp"
mv "$crd.tmp" "$crd"
