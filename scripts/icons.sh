#!/usr/bin/env bash
# Renders the app icon assets/icon.svg into the freedesktop hicolor sizes under
# assets/icons/hicolor/NxN/apps/c2c-pair.png (used by the .deb, the AppImage and the macOS
# .icns), the Windows icon assets/icons/c2c-pair.ico, and assets/icon.png (the 256 px window
# icon built into the binary). Run it after changing icon.svg and commit the results. Needs
# rsvg-convert (Debian: librsvg2-bin) and ImageMagick's convert (imagemagick, for the .ico).
set -euo pipefail
cd "$(dirname "$0")/.."

svg=assets/icon.svg
for size in 16 32 48 64 128 256 512; do
  dir=assets/icons/hicolor/${size}x${size}/apps
  mkdir -p "$dir"
  rsvg-convert --width "$size" --height "$size" --format png --output "$dir/c2c-pair.png" "$svg"
done
cp assets/icons/hicolor/256x256/apps/c2c-pair.png assets/icon.png
mkdir -p assets/icons/hicolor/scalable/apps
cp "$svg" assets/icons/hicolor/scalable/apps/c2c-pair.svg

# Windows .ico: the usual 16–256 px frames, each rendered from the SVG (not downscaled).
ico_sizes=(16 32 48 64 128 256)
frames=()
for size in "${ico_sizes[@]}"; do
  frames+=("assets/icons/hicolor/${size}x${size}/apps/c2c-pair.png")
done
convert "${frames[@]}" assets/icons/c2c-pair.ico

find assets/icon.png assets/icons -type f | sort
