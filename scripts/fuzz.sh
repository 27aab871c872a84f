#!/usr/bin/env bash
# rrd's fuzz targets (fuzz/, cargo-fuzz on the nightly toolchain).
#
#   scripts/fuzz.sh smoke [SECONDS]          every target for SECONDS (default 15),
#                                            unoptimized, new inputs to a scratch folder: CI
#   scripts/fuzz.sh run SECONDS [TARGET...]  fuzz for real, growing fuzz/corpus/<target>
#   scripts/fuzz.sh cmin [TARGET...]         minimize fuzz/corpus/<target>
#   scripts/fuzz.sh list                     the target names
#
# Installs cargo-fuzz when missing. Builds without a sanitizer (-s none):
# rrd forbids unsafe code, so the checks that matter are the targets' own
# (panics, overflow with debug assertions on, properties) and libFuzzer's
# timeout; the sanitizer would only halve the executions per second.
# CARGO_FUZZ_TARGET_DIR picks the build directory (default fuzz/target).
# A crash leaves its input in fuzz/artifacts/<target>/ and fails the script.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

target_dir="${CARGO_FUZZ_TARGET_DIR:-$(pwd)/target}"
# Bounds for every run: inputs up to 64 KiB, 10 s per input, 2 GiB of memory.
libfuzzer_flags=(-max_len=65536 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1)

if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  rustup toolchain install nightly --profile minimal
fi

all_targets() { sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v '^rrd-fuzz-targets$'; }

fuzz() { cargo +nightly fuzz "$@"; }
build() { fuzz build -s none --target-dir "$target_dir"; }

mode="${1:-smoke}"
shift || true
case "$mode" in
  list)
    all_targets
    ;;
  smoke)
    # An unoptimized build (--dev): it compiles in less time than a smoke
    # run could win back.
    seconds="${1:-15}"
    fuzz build --dev -s none --target-dir "$target_dir"
    scratch="$(mktemp -d)"
    trap 'rm -rf "$scratch"' EXIT
    for t in $(all_targets); do
      mkdir -p "$scratch/$t"
      # New inputs go to the scratch folder; the repository's corpus is read only.
      fuzz run --dev -s none --target-dir "$target_dir" "$t" "$scratch/$t" "corpus/$t" -- \
        "${libfuzzer_flags[@]}" -max_total_time="$seconds" 2>&1 | tail -n 20
    done
    ;;
  run)
    seconds="${1:?run SECONDS [TARGET...]}"
    shift
    targets=("$@")
    [ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(all_targets)
    build
    for t in "${targets[@]}"; do
      mkdir -p "corpus/$t"
      fuzz run -s none --target-dir "$target_dir" "$t" "corpus/$t" -- \
        "${libfuzzer_flags[@]}" -max_total_time="$seconds"
    done
    ;;
  cmin)
    # `cargo fuzz cmin` keeps every input with a feature of its own (hit
    # counts, comparisons): thousands of files. To keep the repository
    # lean, the corpus is cut to a set cover of the edges instead, plus the
    # seeds and regression inputs git already holds.
    targets=("$@")
    [ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(all_targets)
    build
    host="$(rustc -vV | sed -n 's/^host: //p')"
    for t in "${targets[@]}"; do
      fuzz cmin -s none --target-dir "$target_dir" "$t" "corpus/$t" -- "${libfuzzer_flags[@]}"
      lean="$(mktemp -d)"
      "$target_dir/$host/release/$t" -set_cover_merge=1 -use_counters=0 -use_cmp=0 \
        "${libfuzzer_flags[@]}" "$lean" "corpus/$t"
      rm -rf "corpus/$t"
      mv "$lean" "corpus/$t"
      git checkout -- "corpus/$t" 2>/dev/null || true
    done
    ;;
  *)
    sed -n '2,8p' "$0" >&2
    exit 2
    ;;
esac
