# The test command the README and CI use: `make test`.
GO ?= go

.PHONY: test build lint deps bench

build:
	$(GO) build -o bin/foyer ./cmd/foyer

deps:
	./scripts/install-test-deps.sh

lint:
	@unformatted="$$(gofmt -l .)"; if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

test: deps lint
	$(GO) test -count=1 -timeout 18m ./...
	./tests/e2e/run.sh
	./tests/browser/run.sh

bench:
	$(GO) test -run '^$$' -bench . -benchtime 2s -count 3 ./...
