# capfilt — build, test, demo and benchmarks. `make test` and `make demo` install what they need.
SHELL := /bin/bash
SWIFT ?= swift
APT_PACKAGES := libavformat-dev libavcodec-dev libavutil-dev libswscale-dev libswresample-dev \
                libopenblas-dev libdnnl-dev libsqlite3-dev sqlite3 pkg-config \
                libarchive-dev chromium ffmpeg slurm-wlm munge
BENCH_PACKAGES := python3-venv time
RELEASE_BIN := .build/release
DEMO_MEDIA := out/demo-media
DEMO_OUT := out/demo

.PHONY: deps bench-deps build test demo bench clean

# Installs the Debian packages that are missing (needs root or sudo; a no-op when all are there).
deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

bench-deps: deps
	@dpkg -s $(BENCH_PACKAGES) >/dev/null 2>&1 || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(BENCH_PACKAGES); }

build: deps
	$(SWIFT) build -c release --product capfilt

# XCTest only (no Swift Testing suites here); the last line is a plain "N passed, N failed".
# The release binary is built first: the refresh property test drives it (a debug build runs the demo
# models too slowly for its hundred steps).
test: deps
	$(SWIFT) build -c release --product capfilt
	$(SWIFT) build --build-tests
	@set -o pipefail; $(SWIFT) test --skip-build --disable-swift-testing 2>&1 | tee .build/test.log; status=$$?; \
	  line=$$(grep -E "Executed [0-9]+ tests?, with .*failures?" .build/test.log | tail -1); \
	  total=$$(echo "$$line" | sed -nE 's/.*Executed ([0-9]+) tests?.*/\1/p'); \
	  failed=$$(echo "$$line" | sed -nE 's/.* ([0-9]+) failures?.*/\1/p'); \
	  skipped=$$(echo "$$line" | sed -nE 's/.* ([0-9]+) tests? skipped.*/\1/p'); skipped=$${skipped:-0}; \
	  [ -n "$$total" ] && echo "$$((total - failed - skipped)) passed, $$failed failed, $$skipped skipped"; exit $$status

# The main job on the shipped default: render a corpus (seed 7, not used in training), run the whole
# CapFilt pipeline with the shipped demo models, summarise what it wrote and score it against the truth.
demo: build
	rm -rf $(DEMO_MEDIA) $(DEMO_OUT)
	$(RELEASE_BIN)/capfilt synth $(DEMO_MEDIA) --videos 8 --images 4 --seed 7
	$(RELEASE_BIN)/capfilt run pipelines/demo.yaml || [ $$? -eq 1 ]
	$(RELEASE_BIN)/capfilt inspect $(DEMO_OUT)
	@echo
	@echo "== against the ground truth ($(DEMO_MEDIA)/truth.jsonl)"
	$(RELEASE_BIN)/capfilt report $(DEMO_OUT) --truth $(DEMO_MEDIA)/truth.jsonl
	@echo
	@echo "Look at the result with sqlite3:"
	@echo "  sqlite3 $(DEMO_OUT)/shard-00000.sqlite \"SELECT uri, t, origin, text FROM curated_pairs LIMIT 10\""
	@echo "  sqlite3 $(DEMO_OUT)/shard-00000.sqlite \"SELECT origin, text, round(itm, 3), round(clip, 3), kept FROM capfilt_result ORDER BY itm LIMIT 10\""
	@echo "  sqlite3 $(DEMO_OUT)/shard-00000.sqlite \"SELECT uri, error FROM errors\""
	@echo "  sqlite3 $(DEMO_OUT)/shard-00000.sqlite \"SELECT writefile('frame.jpg', image) FROM curated_pairs LIMIT 1\""
	@echo
	@sqlite3 -header -column $(DEMO_OUT)/shard-00000.sqlite \
	  "SELECT substr(uri, instr(uri, 'demo-media/') + 11) AS file, t, origin, substr(text, 1, 48) AS text, round(itm, 3) AS itm, round(clip, 3) AS clip, kept FROM capfilt_result WHERE origin <> 'synthetic' ORDER BY itm LIMIT 12"

# Each part measures capfilt and the reference stack in the same run and prints medians and ratios:
# decoding against the ffmpeg CLI, CLIP and BLIP against PyTorch + transformers (a venv from PyPI,
# tools/setup_venv.sh, made on first use), then the whole CapFilt job against a Python pipeline (ffmpeg
# CLI + transformers, tools/e2e_reference.py): wall time and peak RSS of both (/usr/bin/time, package time).
bench: bench-deps
	$(SWIFT) build -c release --product capfilt-bench
	$(SWIFT) build -c release --product capfilt
	$(RELEASE_BIN)/capfilt-bench decode --seconds 120 --width 1280 --repeats 5
	$(RELEASE_BIN)/capfilt-bench ops
	tools/bench_clip.sh $(RELEASE_BIN)/capfilt-bench
	tools/bench_blip.sh $(RELEASE_BIN)/capfilt-bench
	tools/bench_e2e.sh $(RELEASE_BIN)/capfilt --bf16

clean:
	rm -rf .build out
