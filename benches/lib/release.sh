# shellcheck shell=bash
# What the benchmarks share about the binary they measure, sourced by them. Needs ROOT.

# release_binary BUILD: cargo found (also in rustup's default place), rsync present, and
# target/release/archvsync built when it is missing or BUILD is true. Sets BIN.
release_binary() {
    if ! command -v cargo >/dev/null 2>&1 && [[ -x "${CARGO_HOME:-$HOME/.cargo}/bin/cargo" ]]; then
        export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
    fi
    command -v rsync >/dev/null || { echo "rsync is missing; run scripts/setup-deps" >&2; exit 1; }
    BIN=$ROOT/target/release/archvsync
    if [[ ! -x $BIN ]] || $1; then
        command -v cargo >/dev/null 2>&1 || { echo "no $BIN and no cargo to build it" >&2; exit 1; }
        echo "==> cargo build --release"
        cargo build --release --quiet
    fi
}
