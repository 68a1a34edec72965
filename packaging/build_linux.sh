#!/usr/bin/env bash
# Build the Linux bundle of NetBuilder:
#   DIST/NetBuilder/                      netbuilder-app (no console), netbuilder (CLI), one shared _internal/
#   DIST/netbuilder-VERSION-linux-ARCH.tar.gz
#       NetBuilder/                       the bundle above
#       share/applications/netbuilder.desktop, share/icons/hicolor/scalable/apps/netbuilder.svg,
#       share/mime/packages/netbuilder.xml, install.sh (per-user install under ~/.local)
#
# Usage: packaging/build_linux.sh [--dist DIR] [--work DIR] [--no-tar]
# Run it with the Python environment where NetBuilder and its dependencies are installed (PYTHON=... to choose
# another interpreter than python3); PyInstaller is installed into it when missing. The bundle contains the torch
# build installed there: install the CPU build first for a bundle without CUDA libraries.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python3}"
dist="$root/dist"
work="$root/build/pyinstaller"
make_tar=1
while [ $# -gt 0 ]; do
  case "$1" in
    --dist) dist="$(mkdir -p "$2" && cd "$2" && pwd)"; shift 2 ;;
    --work) work="$(mkdir -p "$2" && cd "$2" && pwd)"; shift 2 ;;
    --no-tar) make_tar=0; shift ;;
    -h|--help) sed -n '2,13p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "build_linux.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

if ! "$python" -c "import netbuilder, netbuilder_ui" 2>/dev/null; then
  echo "build_linux.sh: NetBuilder is not installed for $python; run: pip install -e \"$root\"" >&2
  exit 2
fi
if ! "$python" -m PyInstaller --version >/dev/null 2>&1; then
  echo "Installing PyInstaller..."
  "$python" -m pip install -q "pyinstaller>=6.5"
fi

version="$("$python" -c "import netbuilder; print(netbuilder.__version__)")"
arch="$(uname -m)"
start=$SECONDS
"$python" -m PyInstaller --noconfirm --clean --log-level WARN --distpath "$dist" --workpath "$work" \
  "$root/packaging/netbuilder.spec"
bundle="$dist/NetBuilder"
echo "Built $bundle in $((SECONDS - start)) s: $(du -sh "$bundle" | cut -f1)"

if [ "$make_tar" = 1 ]; then
  name="netbuilder-$version-linux-$arch"
  stage="$work/$name"
  rm -rf "$stage" && mkdir -p "$stage/share/applications" "$stage/share/icons/hicolor/scalable/apps" \
    "$stage/share/mime/packages"
  cp -a "$bundle" "$stage/NetBuilder"
  cp "$root/packaging/netbuilder.desktop" "$stage/share/applications/netbuilder.desktop"
  cp "$root/packaging/netbuilder.svg" "$stage/share/icons/hicolor/scalable/apps/netbuilder.svg"
  cp "$root/packaging/netbuilder-mime.xml" "$stage/share/mime/packages/netbuilder.xml"
  install -m 755 "$root/packaging/install_linux.sh" "$stage/install.sh"
  tar -C "$work" -czf "$dist/$name.tar.gz" "$name"
  rm -rf "$stage"
  echo "Packed $dist/$name.tar.gz: $(du -sh "$dist/$name.tar.gz" | cut -f1)"
fi
