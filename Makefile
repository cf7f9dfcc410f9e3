# LEAP on Kubernetes. `make run` runs the product locally; `make test` runs
# every test. Tools are pinned here and built from Go modules into bin/.
SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec
.DEFAULT_GOAL := help

# The product's version: the operator's (stamped into the binary), the tag of
# every image and the chart's appVersion. The operator runs its component
# images at its own version, so one value moves them all.
VERSION        ?= 0.1.0
IMAGE_REGISTRY ?= ghcr.io/leap-dev
# The images `make docker-build` builds: Dockerfile target -> $(IMAGE_REGISTRY)/leap-<target>:$(VERSION).
IMAGE_TARGETS  := operator ingestion scoring portal notifier backup
DOCKER         ?= docker
# The Go of the image builds: the one of this machine (go1.26.8 -> golang:1.26.8).
GO_VERSION      = $(patsubst go%,%,$(shell go env GOVERSION))

# Tool versions: every tool is built from its Go module at this version.
CONTROLLER_GEN_VERSION ?= v0.23.0
GOLANGCI_LINT_VERSION  ?= v2.15.0
HELM_VERSION           ?= v3.22.0
HELM_DOCS_VERSION      ?= v1.14.2
K8S_VERSION            ?= 1.37.2
# Mailpit, the SMTP sink of the notifier's tests and of make run: its version
# is the one hack/tools/mailpit/go.mod pins.
MAILPIT_VERSION        := $(shell awk '$$1 == "require" && $$2 == "github.com/axllent/mailpit" {print $$3}' hack/tools/mailpit/go.mod)
# The S3-compatible server of the backup tests.
VERSITYGW_VERSION      ?= v1.8.0
# axe-core, the accessibility engine the portal's browser tests inject into
# every page: fetched from the npm registry and checked against the
# integrity hack/fetch-axe.sh records for this version. The product never loads it.
AXE_VERSION            ?= 4.14.1

ROOT        := $(abspath .)
BIN         := $(ROOT)/bin
TOOLS       := $(BIN)/tools
ENVTEST_DIR := $(BIN)/k8s/$(K8S_VERSION)
CONTROLLER_GEN := $(TOOLS)/controller-gen-$(CONTROLLER_GEN_VERSION)
GOLANGCI_LINT  := $(TOOLS)/golangci-lint-$(GOLANGCI_LINT_VERSION)
HELM           := $(TOOLS)/helm-$(HELM_VERSION)
HELM_DOCS      := $(TOOLS)/helm-docs-$(HELM_DOCS_VERSION)
MAILPIT        := $(TOOLS)/mailpit-$(MAILPIT_VERSION)
VERSITYGW      := $(TOOLS)/versitygw-$(VERSITYGW_VERSION)
AXE_CORE       := $(BIN)/axe-core-$(AXE_VERSION)/axe.min.js
CHART          := charts/leap-operator

# The Go packages of every module joined by go.work.
MODULES := operator/api operator services
PKGS    := $(addprefix ./,$(addsuffix /...,$(MODULES)))
# The end-to-end tests: `make e2e`, not part of `make unit`.
E2E_PKG := ./operator/test/e2e/
# The e2e cluster's binaries beyond the test control plane.
E2E_BINS := $(addprefix $(ENVTEST_DIR)/,kube-controller-manager kube-scheduler kwok)

export KUBEBUILDER_ASSETS := $(ENVTEST_DIR)
# The chart's tests (operator/internal/charttest) run this helm.
export HELM
# The notifier's tests and make run start this Mailpit.
export MAILPIT
# The backup tests (services/backup) upload to and restore from this S3 server.
export VERSITYGW
# The portal's accessibility tests inject this axe-core into each page.
export AXE_CORE

##@ Use

.PHONY: help
help: ## Show the targets.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z0-9_-]+:.*##/ { printf "  %-16s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)

.PHONY: run
run: $(MAILPIT) ## Run the product locally: the portal, ingestion, scoring and the notifier with Mailpit's inbox, embedded Redis, demo data and logins (LEAP_TERM_FILE, REDIS_URL, PORTAL_OIDC_* to change).
	go run ./services/cmd/leap-local

.PHONY: run-cluster
run-cluster: envtest e2e-cluster kubectl ## Start the e2e cluster (controllers, scheduler, a kwok node) and print its KUBECONFIG; Ctrl-C stops it.
	go run ./operator/internal/cluster/runcluster --assets $(ENVTEST_DIR)

.PHONY: run-operator
run-operator: envtest kubectl ## Start a local API server, install the CRD, apply a sample and run the operator.
	go run ./operator/cmd/devcluster --assets $(ENVTEST_DIR) --crd config/crd/bases --sample $(or $(SAMPLE),config/samples/leap_v1alpha1_leapterm_typical.yaml)

.PHONY: build
build: ## Build every binary into bin/.
	go build -trimpath -ldflags "-X main.version=$(VERSION)" -o $(BIN)/leap-operator ./operator/cmd/manager
	go build -trimpath -o $(BIN)/leap-ingestion ./services/ingestion/cmd/leap-ingestion
	go build -trimpath -o $(BIN)/leap-scoring ./services/scoring/cmd/leap-scoring
	go build -trimpath -o $(BIN)/leap-portal ./services/portal/cmd/leap-portal
	go build -trimpath -o $(BIN)/leap-notifier ./services/notifier/cmd/leap-notifier
	go build -trimpath -o $(BIN)/leap-local ./services/cmd/leap-local
	go build -trimpath -o $(BIN)/leap-backup ./services/cmd/leap-backup

##@ Test

.PHONY: test
test: verify lint unit e2e ## Run every test: generated files fresh, lint, unit and envtest tests, end-to-end.

.PHONY: unit
unit: envtest $(HELM) $(MAILPIT) $(VERSITYGW) $(AXE_CORE) ## Run the Go tests (envtest, the chart's, the notifier's against Mailpit, the backup's against a real S3 server and the portal's axe-core checks included; none is skipped for want of them).
	go test -count=1 -race -timeout 30m $$(go list $(PKGS) | grep -v '/operator/test/e2e$$')

.PHONY: backup-test
backup-test: $(VERSITYGW) ## The backup and restore alone: real redis-server, real S3 server (versitygw), the leap-backup code paths (~20 s once built).
	go test -count=1 -race ./services/backup/

.PHONY: e2e
e2e: envtest e2e-cluster kubectl $(HELM) ## End-to-end: the chart and the operator binary on a hermetic cluster with a kwok node (~30 s once built).
	go test -count=1 -timeout 5m -v $(E2E_PKG)

# What `make generate manifests chart-sync` writes; verify fails when it differs from the commit.
GENERATED := config operator/api $(CHART)/Chart.yaml $(CHART)/templates/crds $(CHART)/templates/_rules.tpl $(CHART)/files $(CHART)/README.md $(CHART)/values.schema.json

.PHONY: verify
verify: generate manifests chart-sync ## Fail when generated files (config/, the chart's copies of them) are not what the make targets produce.
	@git diff --exit-code -- $(GENERATED) || { echo "generated files are stale: run 'make generate manifests chart-sync' and commit" >&2; exit 1; }
	@test -z "$$(git status --porcelain -- $(GENERATED))" || { git status --porcelain -- $(GENERATED); echo "untracked generated files: commit them" >&2; exit 1; }

.PHONY: chart-test
chart-test: envtest $(HELM) ## The chart alone: helm lint, helm template of every example strictly validated, server-side dry run.
	go test -count=1 ./operator/internal/charttest/

.PHONY: lint
lint: $(GOLANGCI_LINT) ## gofmt, go vet and golangci-lint.
	@test -z "$$(gofmt -l $(MODULES))" || { gofmt -l $(MODULES); echo "gofmt would change the files above" >&2; exit 1; }
	go vet $(PKGS)
	$(GOLANGCI_LINT) run --timeout 20m --allow-parallel-runners $(PKGS)

.PHONY: bench
bench: envtest ## Run the benchmarks; each reports its figure beside a baseline from the same run (~6 min).
	go test -run '^$$' -bench . -benchtime 3x ./operator/internal/controller/
	go test -run '^$$' -bench . -benchtime 5x ./services/ingestion/
	go test -run '^$$' -bench . -benchtime 1x ./services/scoring/...
	go test -run '^$$' -bench . -benchtime 1x ./services/store/
	go test -run '^$$' -bench . -benchtime 1x ./services/portal/

.PHONY: screenshots
screenshots: ## Photograph the student's page and the tutor's list in headless Chromium into docs/images/ (the README's pictures).
	mkdir -p docs/images
	cd services && LEAP_SCREENSHOTS=$(CURDIR)/docs/images go test ./portal -run '^TestScreenshots$$' -count=1

##@ Generate

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate deepcopy functions of the API types.
	cd operator/api && $(CONTROLLER_GEN) object paths=./...

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate the CRD and the operator's RBAC into config/.
	cd operator/api && $(CONTROLLER_GEN) crd paths=./... output:crd:artifacts:config=$(ROOT)/config/crd/bases
	hack/crd-metadata-name.sh config/crd/bases/leap.dev_leapterms.yaml
	# operator/api/validation evaluates the CRD's own rules in Go: it embeds this copy.
	cp config/crd/bases/leap.dev_leapterms.yaml operator/api/validation/leap.dev_leapterms.yaml
	cd operator && $(CONTROLLER_GEN) rbac:roleName=leap-operator paths=./internal/... output:rbac:artifacts:config=$(ROOT)/config/rbac

.PHONY: chart-sync
chart-sync: manifests chart-docs ## Copy the CRD, the operator's RBAC rules and a sample from config/ into the chart; stamp VERSION as its appVersion.
	hack/chart-sync.sh $(VERSION) $(CHART)

.PHONY: chart-docs
chart-docs: $(HELM_DOCS) ## Write the chart's README values table (helm-docs) and values.schema.json from values.yaml.
	$(HELM_DOCS) --chart-search-root $(CHART) --sort-values-order file --skip-version-footer --log-level warning
	go run ./operator/internal/chartschema/cmd/values-schema $(CHART)

##@ Images

.PHONY: docker-build
docker-build: ## Build the images IMAGE_REGISTRY/leap-{operator,ingestion,scoring,portal,notifier}:VERSION (needs a Docker engine).
docker-build: ## Build the images IMAGE_REGISTRY/leap-{operator,ingestion,scoring,portal,backup}:VERSION (needs a Docker engine).
	@command -v $(DOCKER) >/dev/null || { echo "docker-build needs a Docker engine ($(DOCKER) not found)" >&2; exit 1; }
	for target in $(IMAGE_TARGETS); do \
	  $(DOCKER) build --target $$target --build-arg VERSION=$(VERSION) --build-arg GO_VERSION=$(GO_VERSION) \
	    -t $(IMAGE_REGISTRY)/leap-$$target:$(VERSION) . ; \
	done

.PHONY: docker-push
docker-push: ## Push the images built by docker-build.
	for target in $(IMAGE_TARGETS); do $(DOCKER) push $(IMAGE_REGISTRY)/leap-$$target:$(VERSION); done

##@ Tools

.PHONY: envtest
envtest: $(ENVTEST_DIR)/kube-apiserver $(ENVTEST_DIR)/etcd ## Build the test control plane (kube-apiserver, etcd) from Go modules.

.PHONY: kubectl
kubectl: $(ENVTEST_DIR)/kubectl ## Build kubectl of the same Kubernetes version.

.PHONY: e2e-cluster
e2e-cluster: $(E2E_BINS) ## Build what the e2e cluster adds to envtest: kube-controller-manager, kube-scheduler, kwok.

$(ENVTEST_DIR)/kube-apiserver $(ENVTEST_DIR)/etcd $(ENVTEST_DIR)/kubectl $(E2E_BINS): hack/tools/envtest/go.mod hack/tools/envtest/go.sum hack/build-envtest.sh
	hack/build-envtest.sh $(ENVTEST_DIR) $(@F)

$(CONTROLLER_GEN):
	GOBIN=$(TOOLS) GOWORK=off go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_GEN_VERSION)
	mv $(TOOLS)/controller-gen $@

$(GOLANGCI_LINT):
	GOBIN=$(TOOLS) GOWORK=off go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	mv $(TOOLS)/golangci-lint $@

.PHONY: helm
helm: $(HELM) ## Build helm (cold: several minutes).

# helm built from its module, stamped as its release build is: its version,
# and the Kubernetes version its lint and template assume (else 1.20).
HELM_LDFLAGS := -X helm.sh/helm/v3/internal/version.version=$(HELM_VERSION) \
	$(foreach pkg,chartutil lint/rules,-X helm.sh/helm/v3/pkg/$(pkg).k8sVersionMajor=$(word 1,$(subst ., ,$(K8S_VERSION))) \
	  -X helm.sh/helm/v3/pkg/$(pkg).k8sVersionMinor=$(word 2,$(subst ., ,$(K8S_VERSION))))
$(HELM):
	GOBIN=$(TOOLS) GOWORK=off go install -ldflags "$(HELM_LDFLAGS)" helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)
	mv $(TOOLS)/helm $@

$(HELM_DOCS):
	GOBIN=$(TOOLS) GOWORK=off go install github.com/norwoodj/helm-docs/cmd/helm-docs@$(HELM_DOCS_VERSION)
	mv $(TOOLS)/helm-docs $@

.PHONY: mailpit
mailpit: $(MAILPIT) ## Build Mailpit, the SMTP sink with an HTTP API (cold: ~2 min of CPU).

$(MAILPIT): hack/tools/mailpit/go.mod hack/tools/mailpit/go.sum hack/build-mailpit.sh
	hack/build-mailpit.sh $@

.PHONY: axe-core
axe-core: $(AXE_CORE) ## Fetch axe-core (pinned, integrity checked) from the npm registry for the portal's accessibility tests.

$(AXE_CORE): hack/fetch-axe.sh
	hack/fetch-axe.sh $(AXE_VERSION) $(@D)

.PHONY: versitygw
versitygw: $(VERSITYGW) ## Build the S3-compatible server of the backup tests (Versity's gateway; cold: 3-4 minutes, far more on a busy machine).

$(VERSITYGW): hack/build-versitygw.sh
	hack/build-versitygw.sh $(VERSITYGW_VERSION) $@

.PHONY: tools
tools: $(CONTROLLER_GEN) $(GOLANGCI_LINT) $(HELM) $(HELM_DOCS) $(MAILPIT) $(VERSITYGW) $(AXE_CORE) envtest e2e-cluster kubectl ## Build every pinned tool.

.PHONY: clean
clean: ## Remove built binaries (the control plane too: the next test rebuilds it, 4-5 minutes).
	rm -rf $(BIN)
