# Tidemark: build, test and run. Every Go target runs in every module (each
# directory with a go.mod), so a new module is covered as soon as it exists.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

GO ?= go
ALL_GO_MOD_DIRS := $(shell find . -mindepth 1 \( -name '.*' -o -name testdata \) -prune -o -name go.mod -print \
	| sed -e 's|^\./||' -e 's|/\{0,1\}go.mod$$||' -e 's|^$$|.|' | sort)

# Binaries: name=package directory. `make build` puts each in bin/.
BINARIES := \
	mqtt-frontend=services/frontend/cmd/mqtt-frontend \
	mqtt-sessiond=services/sessiond/cmd/mqtt-sessiond \
	mqtt-standalone=services/standalone/cmd/mqtt-standalone \
	mqtt-events=tools/mqtt-events \
	mqtt-admin=tools/mqtt-admin \
	mqtt-bench=tools/mqtt-bench \
	mqtt-passwd=tools/mqtt-passwd \
	route-sim=tools/route-sim
BIN_NAMES := $(foreach b,$(BINARIES),$(firstword $(subst =, ,$(b))))
bin_dir = $(word 2,$(subst =, ,$(filter $(1)=%,$(BINARIES))))
BUILD_FLAGS ?= -trimpath

# Fuzz targets as pkg/dir:FuzzName pairs, run by `make test` for FUZZTIME
# each and by `make fuzz` for FUZZ_LONG_TIME each.
FUZZ_TARGETS ?= \
	pkg/mqtt:FuzzReadConnect pkg/mqtt:FuzzReadPacketV31 pkg/mqtt:FuzzReadPacketV311 \
	pkg/mqtt:FuzzReadPacketV5 pkg/mqtt:FuzzDecodeProperties \
	pkg/topic:FuzzMatch pkg/auth:FuzzACLParse pkg/auth:FuzzACLMatch
FUZZTIME ?= 5s
FUZZ_LONG_TIME ?= 2m

STATICCHECK_VERSION ?= v0.8.2
STATICCHECK := $(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

# `make run`: the standalone broker, data kept in DATA_DIR across restarts.
DATA_DIR ?= ./data
# Anonymous access is off unless asked for; `make run` asks, for a local try.
# RUN_AUTH='--password-file passwd --acl-file acl' turns authentication on.
RUN_AUTH ?= --allow-anonymous
RUN_FLAGS ?=

# `make up`: two frontends and a session service against the test stack.
FRONTEND_A_MQTT ?= 127.0.0.1:1884
FRONTEND_A_WS ?= 127.0.0.1:8093
FRONTEND_A_HTTP ?= 127.0.0.1:9184
FRONTEND_B_MQTT ?= 127.0.0.1:1885
FRONTEND_B_WS ?= 127.0.0.1:8094
FRONTEND_B_HTTP ?= 127.0.0.1:9185
SESSIOND_HTTP ?= 127.0.0.1:9186
SESSIOND_ADMIN ?= 127.0.0.1:9187
export FRONTEND_A_MQTT FRONTEND_A_WS FRONTEND_A_HTTP FRONTEND_B_MQTT FRONTEND_B_WS FRONTEND_B_HTTP SESSIOND_HTTP SESSIOND_ADMIN

.PHONY: help
help: ## list the targets
	@awk -F':.*## ' '/^[a-z][a-z-]*:.*## / {printf "  make %-13s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: $(addprefix bin/,$(BIN_NAMES)) ## build every binary into bin/

# Always handed to go build, whose cache knows what changed.
bin/%: FORCE
	@mkdir -p bin
	cd $(call bin_dir,$*) && $(GO) build $(BUILD_FLAGS) -o $(CURDIR)/bin/$* .

.PHONY: test
test: ## vet and race-test every module against the real Kafka and Redis, then fuzz briefly
	FUZZ_TARGETS='$(FUZZ_TARGETS)' FUZZTIME='$(FUZZTIME)' scripts/test.sh

.PHONY: fuzz
fuzz: ## run every fuzz target for FUZZ_LONG_TIME
	FUZZ_TARGETS='$(FUZZ_TARGETS)' FUZZTIME='$(FUZZ_LONG_TIME)' scripts/fuzz.sh

.PHONY: bench
bench: bin/mqtt-bench bin/mqtt-frontend bin/mqtt-sessiond ## Mosquitto and our stack side by side (under 15 min); writes bench/results.json
	scripts/bench.sh

.PHONY: images
images: ## build OCI image tarballs of the services into bin/images (ko, no Docker)
	scripts/images.sh

.PHONY: run
run: bin/mqtt-standalone ## run the standalone broker in the foreground (data in DATA_DIR)
	./bin/mqtt-standalone --data-dir $(DATA_DIR) $(RUN_AUTH) $(RUN_FLAGS)

.PHONY: up
up: bin/mqtt-frontend bin/mqtt-sessiond ## start Kafka, Redis, two frontends and a session service in the background
	scripts/cluster.sh up

.PHONY: down
down: ## stop what `make up` started
	scripts/cluster.sh down

.PHONY: stack-up stack-down stack-status
stack-up: ## start only the test stack (Kafka and Redis)
	scripts/stack.sh up
stack-down: ## stop the test stack
	scripts/stack.sh down
stack-status: ## show the test stack
	scripts/stack.sh status

.PHONY: lint
lint: $(addprefix lint/,$(ALL_GO_MOD_DIRS)) ## go vet, gofmt and staticcheck on every module

lint/%: FORCE
	@echo "lint $*"
	@cd $* && if [ -z "$$(find . -name '*.go' -print -quit)" ]; then echo "  (no Go files yet)"; exit 0; fi; \
	$(GO) vet ./... && \
	unformatted=$$(gofmt -l .) && { [ -z "$$unformatted" ] || { echo "gofmt needed:"; echo "$$unformatted"; exit 1; }; } && \
	$(STATICCHECK) ./...

.PHONY: vet
vet: $(addprefix vet/,$(ALL_GO_MOD_DIRS)) ## go vet every module
vet/%: FORCE
	cd $* && $(GO) vet ./...

.PHONY: tidy
tidy: $(addprefix tidy/,$(ALL_GO_MOD_DIRS)) ## go mod tidy every module
tidy/%: FORCE
	cd $* && $(GO) mod tidy

.PHONY: modules
modules: ## list the Go modules
	@printf '%s\n' $(ALL_GO_MOD_DIRS)

.PHONY: clean
clean: ## remove binaries and test logs (keeps the Kafka jar cache and ./data)
	rm -rf bin/* .stack/test

.PHONY: distclean
distclean: clean ## also stop the stack and remove .stack, .cache and ./data
	scripts/cluster.sh down
	scripts/stack.sh down jaeger
	rm -rf .stack .cache data

.PHONY: FORCE
FORCE:
