#!/usr/bin/env bash
# Builds the Linux packages of c2c-pair and prints their paths on stdout (all else on stderr):
#   - a .deb, by cargo-packager (metadata in Cargo.toml, [package.metadata.packager]), with the
#     desktop entry, the hicolor icons, the AppStream metadata, the man page and the bash, zsh
#     and fish completions;
#   - the AppImage: its AppDir, the AppDir's squashfs image (gzip) and the AppImage itself, our
#     own extract-and-run runtime (packaging/appimage-runtime, built here) with the squashfs
#     appended; checked by running it (--version, --appimage-extract). APPIMAGE_RUNTIME=<file>
#     uses that type-2 runtime instead (the official one, say: see PACKAGING.md).
#
# Usage: scripts/package.sh [--deb-only] [--skip-build]
#   --deb-only     only the .deb
#   --skip-build   use the release binary already built (cargo build --release --locked)
# Honours CARGO_TARGET_DIR (the runtime is built in its appimage-runtime/ subdirectory). Needs
# cargo-packager on PATH (cargo install --locked cargo-packager --version 0.11.8), dpkg-deb and
# gzip; the AppImage needs squashfs-tools (mksquashfs).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

appimage=1 build=1
for arg in "$@"; do
  case $arg in
    --deb-only) appimage=0 ;;
    --skip-build) build=0 ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "package.sh: unknown option $arg (try --help)" >&2
      exit 2
      ;;
  esac
done

step() { printf '\n== %s\n' "$*" >&2; }
die() {
  printf 'package.sh: %s\n' "$*" >&2
  exit 1
}

target_dir=${CARGO_TARGET_DIR:-$repo/target}
[[ $target_dir == /* ]] || target_dir=$repo/$target_dir
release_dir=$target_dir/release
bin=$release_dir/c2c-pair
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
[[ -n $version ]] || die "no version in Cargo.toml"
# Generated files the Cargo.toml deb.files read: a fixed place in the repository's own target/
# (git-ignored) whatever CARGO_TARGET_DIR is, since package metadata cannot name a variable.
staging=$repo/target/packaging

if ((build)); then
  step "release build"
  cargo build --release --locked >&2
fi
[[ -x $bin ]] || die "$bin is missing: build it with cargo build --release --locked"

step "man page and shell completions -> ${staging#"$repo"/}"
rm -rf "$staging"
mkdir -p "$staging/completions"
"$bin" man >"$staging/c2c-pair.1"
grep -q '^\.TH' "$staging/c2c-pair.1" || die "c2c-pair man printed no roff page"
gzip -9 -n -f "$staging/c2c-pair.1"
"$bin" completions bash >"$staging/completions/c2c-pair.bash"
"$bin" completions zsh >"$staging/completions/_c2c-pair"
"$bin" completions fish >"$staging/completions/c2c-pair.fish"
for f in "$staging"/completions/*; do
  grep -q c2c-pair "$f" || die "$f does not complete c2c-pair"
done

# The binary links libc only (the window's libraries are dlopen'd): its newest GLIBC symbol
# version must not be above the libc6 floor that Cargo.toml's deb depends declare.
step "glibc floor"
needed=$(objdump -T "$bin" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -n 1)
declared=$(sed -n 's/^ *"libc6 (>= \([0-9.]*\))",$/\1/p' Cargo.toml)
[[ -n $needed && -n $declared ]] || die "could not read the glibc versions (needed '$needed', declared '$declared')"
if [[ $(printf '%s\n%s\n' "$needed" "$declared" | sort -V | tail -n 1) != "$declared" ]]; then
  die "the binary needs GLIBC_$needed but Cargo.toml's deb depends say libc6 (>= $declared)"
fi
echo "binary needs GLIBC_$needed; the .deb depends on libc6 (>= $declared)" >&2

outputs=()

# The .deb (always: the AppDir below is made from its tree).
step "cargo packager --release --formats deb"
cargo packager --version >/dev/null 2>&1 ||
  die "cargo-packager is missing: cargo install --locked cargo-packager --version 0.11.8"
cargo packager --release --formats deb >&2
deb_file=$release_dir/c2c-pair_${version}_amd64.deb
[[ -f $deb_file ]] || die "cargo packager did not write $deb_file"

# cargo-packager writes Depends only; add Recommends (a Secret Service provider for the
# keychain, xdg-open for links) and rebuild with dpkg-deb, which also checks the control file.
step "control file: Recommends"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dpkg-deb --raw-extract "$deb_file" "$work/pkg"
control=$work/pkg/DEBIAN/control
sed -i '/^Depends:/a Recommends: gnome-keyring | libkf5wallet-bin | keepassxc, xdg-utils' "$control"
dpkg-deb --root-owner-group -Zxz --build "$work/pkg" "$deb_file" >/dev/null
rm -rf "$work"
trap - EXIT

# Every file the package must carry.
listing=$(dpkg-deb --contents "$deb_file")
for f in usr/bin/c2c-pair \
  usr/share/applications/c2c-pair.desktop \
  usr/share/doc/c2c-pair/copyright \
  usr/share/metainfo/io.github.c2cpair.C2cPair.metainfo.xml \
  usr/share/icons/hicolor/{16x16,32x32,48x48,64x64,128x128,256x256,512x512}/apps/c2c-pair.png \
  usr/share/icons/hicolor/scalable/apps/c2c-pair.svg \
  usr/share/man/man1/c2c-pair.1.gz \
  usr/share/bash-completion/completions/c2c-pair \
  usr/share/zsh/vendor-completions/_c2c-pair \
  usr/share/fish/vendor_completions.d/c2c-pair.fish; do
  grep -q " \./$f\$" <<<"$listing" || die "$deb_file lacks /$f"
done
dpkg-deb --info "$deb_file" >&2
outputs+=("$deb_file")

if ((appimage)); then
  # An AppImage is a type-2 runtime (an ELF) followed by a squashfs image of an AppDir: AppRun,
  # the desktop entry and the icon at the top, the same /usr tree as the .deb. The binary
  # needs nothing bundled: it links libc only and dlopens the host's GL, X11 and Wayland
  # libraries, which an AppImage must take from the host anyway.
  step "AppDir and squashfs"
  command -v mksquashfs >/dev/null || die "mksquashfs is missing (Debian: squashfs-tools)"
  appimage_dir=$release_dir/appimage
  appdir=$appimage_dir/c2c-pair.AppDir
  rm -rf "$appimage_dir"
  mkdir -p "$appdir"
  dpkg-deb --extract "$deb_file" "$appdir"
  ln -s usr/bin/c2c-pair "$appdir/AppRun"
  cp assets/c2c-pair.desktop "$appdir/c2c-pair.desktop"
  cp assets/icons/hicolor/256x256/apps/c2c-pair.png "$appdir/c2c-pair.png"
  ln -s c2c-pair.png "$appdir/.DirIcon"
  # appimagetool's and AppImageHub's convention: the AppStream file named after the desktop id.
  mv "$appdir/usr/share/metainfo/io.github.c2cpair.C2cPair.metainfo.xml" \
    "$appdir/usr/share/metainfo/c2c-pair.appdata.xml"
  "$appdir/AppRun" --version >&2 || die "the AppDir's AppRun does not run"

  squashfs=$appimage_dir/c2c-pair_${version}_x86_64.squashfs
  # gzip: what our runtime reads (backhand's pure-Rust gzip feature); the official runtime too.
  mksquashfs "$appdir" "$squashfs" -root-owned -noappend -no-xattrs -comp gzip -quiet -no-progress >&2
  outputs+=("$appdir" "$squashfs")

  # The runtime: the given one, or ours, built and given the AppImage magic ('AI' 0x02 at
  # offset 8, in the ELF header's padding), which the official runtime gets the same way.
  if [[ -n ${APPIMAGE_RUNTIME:-} ]]; then
    step "AppImage (runtime: $APPIMAGE_RUNTIME)"
    [[ -f $APPIMAGE_RUNTIME ]] || die "APPIMAGE_RUNTIME=$APPIMAGE_RUNTIME is not a file"
    runtime=$APPIMAGE_RUNTIME
  else
    step "AppImage runtime (packaging/appimage-runtime)"
    runtime_target=$target_dir/appimage-runtime
    CARGO_TARGET_DIR=$runtime_target cargo build --release --locked \
      --manifest-path packaging/appimage-runtime/Cargo.toml >&2
    runtime=$appimage_dir/runtime-x86_64
    cp "$runtime_target/release/appimage-runtime" "$runtime"
    printf 'AI\002' | dd of="$runtime" bs=1 seek=8 conv=notrunc status=none
  fi
  # A type-2 runtime is an ELF with the AppImage magic 'AI' 0x02 at offset 8.
  magic=$(od -An -tx1 -j0 -N11 "$runtime" | tr -d ' \n')
  [[ $magic == 7f454c46????????414902 ]] ||
    die "$runtime is not a type-2 AppImage runtime (ELF with AI\\x02 at offset 8)"
  image=$release_dir/c2c-pair-${version}-x86_64.AppImage
  cat "$runtime" "$squashfs" >"$image"
  chmod 755 "$image"

  # Prove it: the squashfs is where the runtime looks, the app runs from it (leaving nothing
  # behind in its temporary directory), and it extracts. APPIMAGE_EXTRACT_AND_RUN is for the
  # official runtime, which would otherwise need FUSE; ours always extracts.
  check=$(mktemp -d)
  trap 'rm -rf "$check"' EXIT
  offset=$("$image" --appimage-offset) || offset="(failed: $?)"
  [[ $offset == "$(stat -c %s "$runtime")" ]] ||
    die "$image: --appimage-offset gave '$offset', the runtime is $(stat -c %s "$runtime") bytes"
  mkdir "$check/tmp"
  ran=$(TMPDIR=$check/tmp APPIMAGE_EXTRACT_AND_RUN=1 "$image" --version) || ran="(failed: $?)"
  if [[ $ran != "c2c-pair $version" && $ran != "c2c-pair $version "* ]]; then
    rm -f "$image"
    die "the AppImage does not run: --version gave '$ran'"
  fi
  echo "$ran" >&2
  [[ -z $(ls -A "$check/tmp") ]] || die "the AppImage left $(ls -A "$check/tmp") in its TMPDIR"
  (cd "$check" && "$image" --appimage-extract >/dev/null) || die "$image --appimage-extract failed"
  [[ -L $check/squashfs-root/AppRun && -x $check/squashfs-root/AppRun ]] ||
    die "$image --appimage-extract wrote no squashfs-root/AppRun"
  rm -rf "$check"
  trap - EXIT
  echo "AppImage: $image ($(stat -c %s "$image") bytes; runtime $(stat -c %s "$runtime"))" >&2
  outputs+=("$image")
fi

step "built"
printf '%s\n' "${outputs[@]}"
