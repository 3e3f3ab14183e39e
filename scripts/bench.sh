#!/usr/bin/env bash
# Measures every figure of BENCHMARKS.md on this machine and rewrites the file.
#
#   scripts/bench.sh                 all figures (about 10 minutes on 2 cores)
#   scripts/bench.sh --clean-build   also a clean release build, timed (about 10 more)
#   scripts/bench.sh --size          only the size section (6), then rewrite BENCHMARKS.md
#   scripts/bench.sh --assemble      only rewrite BENCHMARKS.md from the sections in
#                                    target/bench/ (after re-running one bench by hand)
#
# Needs (Debian): xvfb hyperfine curl time binutils, and what .ci/run installs for the
# keychain (dbus, gnome-keyring). cargo-bloat is used when installed
# (`cargo install cargo-bloat`). Run it on an otherwise idle machine: the idle figures
# count CPU ticks.
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in Xvfb hyperfine curl /usr/bin/time strip; do
  command -v "$tool" >/dev/null || { echo "bench.sh: $tool is missing (see the header)" >&2; exit 2; }
done

out=target/bench
build=${CARGO_TARGET_DIR:-target}/release
mode=${1:-}
if [[ $mode != --assemble ]]; then
mkdir -p "$out"
if [[ $mode != --size ]]; then
rm -f "$out"/[0-9]-*.md

# 1, 2, 5: in process, against the embedded server, real keychain.
.ci/with-keyring cargo bench --bench pairing
# 3, 4: the release binary on a private Xvfb, against a bare eframe window. -noreset: by
# default Xvfb resets when its last client leaves and refuses the next one meanwhile, and
# these figures open and close many windows.
Xvfb :88 -screen 0 1920x1080x24 -nolisten tcp -noreset >/dev/null 2>&1 &
xvfb=$!
trap 'kill $xvfb' EXIT
sleep 3
DISPLAY=:88 .ci/with-keyring cargo bench --bench process
# 7: uploads of a 2 GiB sparse file (needs about 5 GiB free in the temporary folder).
.ci/with-keyring cargo bench --bench upload
fi

# 6: size, start-up of the headless CLI, build.
# Two builds: built together, the example's dev-dependencies would unify their features into
# the app's dependencies and inflate the app (by 0.5 MiB) beyond what the packages ship.
cargo build --release --bin c2c-pair
cargo build --release --example bare_window
strip -o "$out/c2c-pair.stripped" "$build/c2c-pair"
strip -o "$out/bare_window.stripped" "$build/examples/bare_window"
mib() { awk -v b="$(stat -c %s "$1")" 'BEGIN { printf "%.2f", b / 1048576 }'; }
app_mib=$(mib "$out/c2c-pair.stripped")
bare_mib=$(mib "$out/bare_window.stripped")
unstripped_mib=$(mib "$build/c2c-pair")

export C2C_PAIR_CONFIG_DIR="$out/config" C2C_PAIR_LOG_DIR="$out/config/logs" C2C_PAIR_KEYCHAIN_SERVICE=c2c-pair-bench
hyperfine -N --warmup 3 --runs 30 --export-json "$out/cli.json" \
  "$build/c2c-pair --version" "$build/c2c-pair status" >/dev/null
cli_ms() { python3 -c "import json,sys; r=json.load(open('$out/cli.json'))['results'][$1]; print(f\"{r['median']*1000:.2f}\")"; }
version_ms=$(cli_ms 0)
status_ms=$(cli_ms 1)
status_rss=$(/usr/bin/time -v "$build/c2c-pair" status 2>&1 >/dev/null |
  awk -F': ' '/Maximum resident set size/ { printf "%.1f", $2 / 1024 }')

{
  echo "## Size, CLI start-up and build"
  echo
  echo '`scripts/bench.sh` (this section: `cargo build --release`, `strip`, `hyperfine`, `/usr/bin/time -v`)'
  echo
  echo "| figure | value | floor | ratio |"
  echo "|---|---|---|---|"
  echo "| release binary, stripped | $app_mib MiB | $bare_mib MiB (bare eframe window, same features) | $(awk -v a="$app_mib" -v b="$bare_mib" 'BEGIN { printf "%.2f", a / b }') |"
  echo "| release binary, as built (the release profile strips it) | $unstripped_mib MiB | | |"
  echo "| \`c2c-pair status\` (headless, reads the device list), median of 30 | $status_ms ms | $version_ms ms (\`c2c-pair --version\`) | $(awk -v a="$status_ms" -v b="$version_ms" 'BEGIN { printf "%.2f", a / b }') |"
  echo "| \`c2c-pair status\`, peak RSS | $status_rss MiB | | |"
  if [[ $mode == --clean-build ]]; then
    build_dir=$(mktemp -d)
    start=$(date +%s)
    CARGO_TARGET_DIR="$build_dir" cargo build --release --bin c2c-pair >/dev/null 2>&1
    echo "| clean release build, $(nproc) cores | $(( $(date +%s) - start )) s | | |"
    rm -rf "$build_dir"
  fi
  if command -v cargo-bloat >/dev/null; then
    echo
    echo 'Largest contributors to the release binary (`cargo bloat --release --crates -n 12`):'
    echo
    echo '```text'
    # cargo bloat reads symbols, which the release profile strips.
    CARGO_PROFILE_RELEASE_STRIP=false cargo bloat --release --bin c2c-pair --crates -n 12 2>/dev/null
    echo '```'
  fi
} >"$out/6-size.md"
fi

{
  echo "# Benchmarks"
  echo
  echo "Written by \`scripts/bench.sh\` on $(date -u +%Y-%m-%d): every figure beside a floor measured in"
  echo "the same run on the same machine, so ratios hold on a noisy machine; budgets from issue 6."
  echo
  echo "Machine: $(nproc) cores ($(lscpu | sed -n 's/^Model name: *//p')), $(free -g | awk '/Mem:/ { print $2 }') GiB,"
  echo "$(. /etc/os-release && echo "$PRETTY_NAME"), kernel $(uname -r), $(rustc -V)."
  echo "Display: Xvfb 1920×1080×24 with Mesa's software GL (llvmpipe); keychain: gnome-keyring in a"
  echo "private D-Bus session (\`.ci/with-keyring\`)."
  echo
  cat benches/NOTES.md
  for section in "$out"/[0-9]-*.md; do
    echo
    cat "$section"
  done
} >BENCHMARKS.md
echo "bench.sh: wrote BENCHMARKS.md"
