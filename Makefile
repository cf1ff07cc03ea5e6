# vex - top-level commands. `make test` and `make demo` work on a fresh
# Debian machine: they install what they need first (make deps).

BUILD ?= build
BUILD_ASAN ?= build-asan
JOBS ?= 2
PORT ?= 8080
DEMO_DATA ?= demo-data
DEMO_SESSIONS ?= 200000

DEB_PACKAGES = build-essential cmake pkg-config python3 curl openssl \
	libmicrohttpd-dev libjansson-dev libsqlite3-dev libssl-dev libargon2-dev \
	libzstd-dev libcurl4-openssl-dev libcmocka-dev \
	clickhouse-server clickhouse-client chromium

.PHONY: all deps build build-asan test test-fast demo clean

all: build

# Idempotent: installs only what is missing.
deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi
	@command -v node >/dev/null 2>&1 || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq nodejs npm; }
	@cd tests/browser && (npm ls --silent >/dev/null 2>&1 || npm ci --no-audit --no-fund --loglevel=error)

build:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build $(BUILD) -j$(JOBS)

build-asan:
	cmake -S . -B $(BUILD_ASAN) -DCMAKE_BUILD_TYPE=Debug -DVEX_SANITIZE=ON >/dev/null
	cmake --build $(BUILD_ASAN) -j$(JOBS)

# Every test, in the optimised build and again under ASan + UBSan.
test: deps build build-asan
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)
	cd $(BUILD_ASAN) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j$(JOBS)

test-fast: build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)

# A realistic week of data served with the dashboard on 127.0.0.1:$(PORT).
demo: deps build
	./scripts/demo.sh $(BUILD)/vex $(DEMO_DATA) $(PORT) $(DEMO_SESSIONS)

clean:
	rm -rf $(BUILD) $(BUILD_ASAN)
