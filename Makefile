# The gateway's everyday commands. `make run` and `make test` are the two a
# new user needs; see README.md.

GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
TESTFLAGS ?=
BENCHTIME ?= 1s
LOADFLAGS ?=

.PHONY: run test bench lint build clean

## run: serve on :8080 with the embedded SQLite store in ./data (no configuration needed)
run:
	$(GO) run -ldflags "$(LDFLAGS)" ./cmd/gateway serve

## test: every test, with the race detector; PostgreSQL tests run when GATEWAY_TEST_POSTGRES_DSN is set
test:
	$(GO) test -race -count=1 -timeout 14m $(TESTFLAGS) ./...

## bench: the Go benchmarks, then the load harness (test/load) on SQLite, and on PostgreSQL when GATEWAY_TEST_POSTGRES_DSN is set
bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./...
	$(GO) run ./test/load $(LOADFLAGS)

## lint: gofmt and go vet
lint:
	@unformatted=$$(gofmt -l .); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

## build: the binary at bin/gateway
build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/gateway ./cmd/gateway

clean:
	rm -rf bin
