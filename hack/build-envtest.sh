#!/usr/bin/env bash
# Builds the Kubernetes control plane that the tests run against (kube-apiserver
# and etcd; for the e2e cluster also kube-controller-manager, kube-scheduler and
# kwok, which fakes the nodes' kubelets) from the Go modules pinned in
# hack/tools/envtest, because the usual download of envtest binaries cannot be
# reached from our build machines.
#
# Usage: hack/build-envtest.sh OUTDIR BINARY...
#   BINARY: kube-apiserver | etcd | kubectl | kube-controller-manager | kube-scheduler | kwok
# Cold: 4-5 minutes on 2 cores (~6 minutes for all six); the Makefile calls it
# only for missing binaries.
set -euo pipefail

out=${1:?usage: build-envtest.sh OUTDIR BINARY...}
shift
here=$(cd "$(dirname "$0")" && pwd)
mod="$here/tools/envtest"
k8s_version=$(awk '$1 == "require" && $2 == "k8s.io/kubernetes" {print $3}' "$mod/go.mod")
minor=$(echo "$k8s_version" | cut -d. -f2)
mkdir -p "$out"
out=$(cd "$out" && pwd)

for bin in "$@"; do
  case "$bin" in
    kubectl)
      pkg=k8s.io/kubernetes/cmd/kubectl
      stamp="-X k8s.io/component-base/version.gitVersion=$k8s_version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/client-go/pkg/version.gitVersion=$k8s_version"
      ;;
    kube-apiserver)
      pkg=k8s.io/kubernetes/cmd/kube-apiserver
      stamp="-X k8s.io/component-base/version.gitVersion=$k8s_version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
      ;;
    kube-controller-manager | kube-scheduler)
      pkg=k8s.io/kubernetes/cmd/$bin
      stamp="-X k8s.io/component-base/version.gitVersion=$k8s_version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
      ;;
    kwok)
      pkg=sigs.k8s.io/kwok/cmd/kwok
      stamp=""
      ;;
    etcd)
      pkg=go.etcd.io/etcd/server/v3
      stamp=""
      ;;
    *) echo "build-envtest.sh: unknown binary $bin" >&2; exit 2 ;;
  esac
  echo "building $bin ($pkg) into $out"
  (cd "$mod" && GOWORK=off CGO_ENABLED=0 go build -trimpath -ldflags "-s -w $stamp" -o "$out/$bin" "$pkg")
done
