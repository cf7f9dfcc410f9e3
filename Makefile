# LEAP on Kubernetes. `make run` runs the product locally; `make test` runs
# every test. Tools are pinned here and built from Go modules into bin/.
SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec
.DEFAULT_GOAL := help

# Tool versions: every tool is built from its Go module at this version.
CONTROLLER_GEN_VERSION ?= v0.23.0
GOLANGCI_LINT_VERSION  ?= v2.15.0
K8S_VERSION            ?= 1.37.2

ROOT        := $(abspath .)
BIN         := $(ROOT)/bin
TOOLS       := $(BIN)/tools
ENVTEST_DIR := $(BIN)/k8s/$(K8S_VERSION)
CONTROLLER_GEN := $(TOOLS)/controller-gen-$(CONTROLLER_GEN_VERSION)
GOLANGCI_LINT  := $(TOOLS)/golangci-lint-$(GOLANGCI_LINT_VERSION)

# The Go packages of every module joined by go.work.
MODULES := operator/api operator services
PKGS    := $(addprefix ./,$(addsuffix /...,$(MODULES)))

export KUBEBUILDER_ASSETS := $(ENVTEST_DIR)

##@ Use

.PHONY: help
help: ## Show the targets.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*##/ { printf "  %-16s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)

.PHONY: run
run: ## Run the product locally: ingestion and scoring, embedded Redis, demo data (LEAP_TERM_FILE, REDIS_URL to change).
	go run ./services/cmd/leap-local

.PHONY: run-operator
run-operator: envtest kubectl ## Start a local API server, install the CRD, apply a sample and run the operator.
	go run ./operator/cmd/devcluster --assets $(ENVTEST_DIR) --crd config/crd/bases --sample $(or $(SAMPLE),config/samples/leap_v1alpha1_leapterm_typical.yaml)

.PHONY: build
build: ## Build every binary into bin/.
	go build -trimpath -o $(BIN)/leap-operator ./operator/cmd/manager
	go build -trimpath -o $(BIN)/leap-ingestion ./services/ingestion/cmd/leap-ingestion
	go build -trimpath -o $(BIN)/leap-scoring ./services/scoring/cmd/leap-scoring
	go build -trimpath -o $(BIN)/leap-local ./services/cmd/leap-local

##@ Test

.PHONY: test
test: verify lint unit ## Run every test: generated files fresh, lint, unit and envtest tests.

.PHONY: unit
unit: envtest ## Run the Go tests (envtest included; no test is skipped for want of it).
	go test -count=1 -race $(PKGS)

.PHONY: verify
verify: generate manifests ## Fail when generated files are not what the make targets produce.
	@git diff --exit-code -- config operator/api || { echo "generated files are stale: run 'make generate manifests' and commit" >&2; exit 1; }
	@test -z "$$(git status --porcelain -- config operator/api)" || { git status --porcelain -- config operator/api; echo "untracked generated files: commit them" >&2; exit 1; }

.PHONY: lint
lint: $(GOLANGCI_LINT) ## gofmt, go vet and golangci-lint.
	@test -z "$$(gofmt -l $(MODULES))" || { gofmt -l $(MODULES); echo "gofmt would change the files above" >&2; exit 1; }
	go vet $(PKGS)
	$(GOLANGCI_LINT) run $(PKGS)

.PHONY: bench
bench: envtest ## Run the benchmarks; each reports its figure beside a baseline from the same run (~4 min).
	go test -run '^$$' -bench . -benchtime 3x ./operator/internal/controller/
	go test -run '^$$' -bench . -benchtime 5x ./services/ingestion/
	go test -run '^$$' -bench . ./services/scoring/...
	go test -run '^$$' -bench . -benchtime 1x ./services/store/

##@ Generate

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate deepcopy functions of the API types.
	cd operator/api && $(CONTROLLER_GEN) object paths=./...

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate the CRD and the operator's RBAC into config/.
	cd operator/api && $(CONTROLLER_GEN) crd paths=./... output:crd:artifacts:config=$(ROOT)/config/crd/bases
	cd operator && $(CONTROLLER_GEN) rbac:roleName=leap-operator paths=./internal/... output:rbac:artifacts:config=$(ROOT)/config/rbac

##@ Tools

.PHONY: envtest
envtest: $(ENVTEST_DIR)/kube-apiserver $(ENVTEST_DIR)/etcd ## Build the test control plane (kube-apiserver, etcd) from Go modules.

.PHONY: kubectl
kubectl: $(ENVTEST_DIR)/kubectl ## Build kubectl of the same Kubernetes version.

$(ENVTEST_DIR)/kube-apiserver $(ENVTEST_DIR)/etcd $(ENVTEST_DIR)/kubectl: hack/tools/envtest/go.mod hack/tools/envtest/go.sum hack/build-envtest.sh
	hack/build-envtest.sh $(ENVTEST_DIR) $(@F)

$(CONTROLLER_GEN):
	GOBIN=$(TOOLS) GOWORK=off go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_GEN_VERSION)
	mv $(TOOLS)/controller-gen $@

$(GOLANGCI_LINT):
	GOBIN=$(TOOLS) GOWORK=off go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	mv $(TOOLS)/golangci-lint $@

.PHONY: tools
tools: $(CONTROLLER_GEN) $(GOLANGCI_LINT) envtest ## Build every pinned tool.

.PHONY: clean
clean: ## Remove built binaries (the control plane too: the next test rebuilds it, 4-5 minutes).
	rm -rf $(BIN)
