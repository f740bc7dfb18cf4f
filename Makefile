# zerodown — make help lists the targets.
GO      ?= go
BIN     ?= bin/zerodown
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/prometheus/common/version.Version=$(VERSION) \
           -X github.com/prometheus/common/version.Revision=$(shell git rev-parse --short HEAD 2>/dev/null) \
           -X github.com/prometheus/common/version.Branch=$(shell git rev-parse --abbrev-ref HEAD 2>/dev/null)

.PHONY: help build build-cluster build-lite build-static image-binary image demo dashboards docs report-screenshot test rules-test rules-manifest unit vet fmt-check bench bench-go clean cluster-up cluster-down e2e

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## build bin/zerodown (cmd/zerodown): every command, the in-cluster roles and the embedded rule evaluator
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/zerodown

build-cluster: ## build bin/zerodown-cluster (cmd/zerodown-cluster): every role without the embedded rule evaluator (in a cluster Prometheus evaluates the rules), 10 MB smaller and lighter in memory
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/zerodown-cluster ./cmd/zerodown-cluster

build-lite: ## build bin/zerodown-lite (cmd/zerodown-lite): watch, demo and rules only, without client-go (27 MB against 42, about 10 MiB less resident)
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/zerodown-lite ./cmd/zerodown-lite

build-static: ## build bin/zerodown-static: the container image's binary (cmd/zerodown-cluster, static: no cgo, pure-Go resolver) and check it links nothing
	CGO_ENABLED=0 $(GO) build -tags netgo,osusergo -trimpath -ldflags '$(LDFLAGS)' -o bin/zerodown-static ./cmd/zerodown-cluster
	@if ldd bin/zerodown-static >/dev/null 2>&1; then echo "bin/zerodown-static is dynamically linked"; ldd bin/zerodown-static; exit 1; fi
	@./bin/zerodown-static version | head -1

image-binary: build-static ## build bin/zerodown-static, as build-static (what the Dockerfile runs)

IMAGES ?= bin/images
MKIMAGE = $(GO) -C images run ./mkimage
image: image-binary ## build image archives in bin/images without a container engine (ctr images import, docker load): zerodown as the Dockerfile says, the sample app (v1, v2, v3-bad), and what the e2e nodes run: the ground-truth client, CoreDNS (images/coredns) and the pause image
	CGO_ENABLED=0 $(GO) -C images build -trimpath -ldflags '-s -w' -o $(CURDIR)/bin/sampleapp ./sampleapp
	CGO_ENABLED=0 $(GO) -C images build -trimpath -ldflags '-s -w' -o $(CURDIR)/bin/pause ./pause
	$(MKIMAGE) -dockerfile $(CURDIR)/Dockerfile -context $(CURDIR) -tag zerodown:dev -out $(CURDIR)/$(IMAGES)/zerodown.tar
	$(MKIMAGE) -base distroless-static -file /sampleapp=$(CURDIR)/bin/sampleapp -entrypoint /sampleapp -user 65532:65532 -env VERSION=v1 -tag zerodown-sample:v1 -out $(CURDIR)/$(IMAGES)/sample-v1.tar
	$(MKIMAGE) -base distroless-static -file /sampleapp=$(CURDIR)/bin/sampleapp -entrypoint /sampleapp -user 65532:65532 -env VERSION=v2 -tag zerodown-sample:v2 -out $(CURDIR)/$(IMAGES)/sample-v2.tar
	$(MKIMAGE) -base distroless-static -file /sampleapp=$(CURDIR)/bin/sampleapp -entrypoint /sampleapp -user 65532:65532 -env VERSION=v3 -env FAIL=1 -tag zerodown-sample:v3-bad -out $(CURDIR)/$(IMAGES)/sample-v3-bad.tar
	CGO_ENABLED=0 $(GO) -C images build -trimpath -ldflags '-s -w' -o $(CURDIR)/bin/groundtruth ./groundtruth
	$(MKIMAGE) -base distroless-static -file /groundtruth=$(CURDIR)/bin/groundtruth -entrypoint /groundtruth -user 65532:65532 -tag zerodown-groundtruth:dev -out $(CURDIR)/$(IMAGES)/groundtruth.tar
	CGO_ENABLED=0 $(GO) -C images/coredns build -trimpath -ldflags '-s -w' -o $(CURDIR)/bin/coredns .
	$(MKIMAGE) -base distroless-static -file /coredns=$(CURDIR)/bin/coredns -entrypoint /coredns -user 65532:65532 -tag zerodown-coredns:v1.15.0 -out $(CURDIR)/$(IMAGES)/coredns.tar
	$(MKIMAGE) -file /pause=$(CURDIR)/bin/pause -entrypoint /pause -user 65535:65535 -tag registry.k8s.io/pause:3.10 -out $(CURDIR)/$(IMAGES)/pause.tar

demo: build ## start the loopback test target with scheduled outages and watch it (about 40 s)
	./$(BIN) demo --out zerodown-demo

report-screenshot: demo ## docs/report.png: the demo's intervals judged by budget/testdata/example.yaml, in headless chromium
	./e2e/install-debian.sh chromium:chromium
	./$(BIN) report --title "zerodown demo" --budgets budget/testdata/example.yaml --out zerodown-demo/report zerodown-demo/intervals.jsonl || [ $$? = 3 ]
	chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1400,1150 \
		--screenshot=docs/report.png "file://$(CURDIR)/zerodown-demo/report/report.html" 2>/dev/null

test: fmt-check vet unit rules-test e2e ## everything CI runs: formatting, vet, unit and loopback tests, rule tests, then the e2e tests

unit: ## unit and loopback tests (with -race), no control plane; the report's tests run in headless chromium, budget derive's against Debian's prometheus (both installed when missing)
	./e2e/install-debian.sh chromium:chromium promtool:prometheus
	ZERODOWN_REQUIRE_TOOLS=1 $(GO) test -race -count=1 ./...
	$(GO) -C images test -count=1 ./...

rules-manifest: ## regenerate deploy/components/monitoring/prometheusrule.yaml from rules/*.rules.yaml
	$(GO) run ./rules/genmanifest

dashboards: ## regenerate dashboards/json/*.json and their ConfigMaps in deploy/ from dashboards/*.go
	$(GO) run ./dashboards/gen

docs: ## regenerate docs/metrics.md and docs/flags.md from the collectors' descriptions and the commands' flag sets
	$(GO) test ./cmd/zerodown -run '^TestDocsUpToDate$$' -count=1 -args -update

rules-test: ## check the shipped rules and run their unit tests with promtool (installs Debian's prometheus when missing)
	./rules/test.sh

vet:
	$(GO) vet ./...
	$(GO) vet -tags e2e ./e2e/...
	$(GO) -C images vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

bench: build ## fidelity, detection and cost benchmarks on loopback (see bench/README.md)
	./bench/run.sh

bench-go: ## Go micro-benchmarks
	$(GO) test -run '^$$' -bench . -benchmem ./...

cluster-up: ## start a loopback Kubernetes control plane with OpenShift CRDs (first run builds it, 7-30 min)
	./e2e/controlplane/up.sh

e2e: ## end-to-end tests on a control plane of their own (started and stopped here; first run builds it)
	./e2e/run.sh $(E2E_ARGS)

cluster-down: ## stop the control plane started by cluster-up and remove its state
	./e2e/controlplane/down.sh

clean:
	rm -rf bin zerodown-demo
