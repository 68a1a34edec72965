#!/usr/bin/env bash
# Install the unpacked NetBuilder bundle for the current user (shipped as install.sh in the Linux tar.gz):
# the bundle goes to ~/.local/opt/netbuilder, `netbuilder` and `netbuilder-app` to ~/.local/bin, and the menu
# entry, icon and .nbg file type to ~/.local/share. Run it again to update; remove those paths to uninstall.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
data="${XDG_DATA_HOME:-$HOME/.local/share}"
opt="$HOME/.local/opt/netbuilder"
bin="$HOME/.local/bin"

if [ ! -x "$here/NetBuilder/netbuilder-app" ]; then
  echo "install.sh: run it from the unpacked archive (NetBuilder/netbuilder-app is missing next to it)." >&2
  exit 2
fi
mkdir -p "$opt" "$bin" "$data/applications" "$data/icons/hicolor/scalable/apps" "$data/mime/packages"
rm -rf "$opt/NetBuilder"
cp -a "$here/NetBuilder" "$opt/NetBuilder"
ln -sf "$opt/NetBuilder/netbuilder" "$bin/netbuilder"
ln -sf "$opt/NetBuilder/netbuilder-app" "$bin/netbuilder-app"
# The menu entry names the executable by its full path, so it works even when ~/.local/bin is not on PATH.
sed "s|^Exec=.*|Exec=\"$opt/NetBuilder/netbuilder-app\" %F|" "$here/share/applications/netbuilder.desktop" \
  > "$data/applications/netbuilder.desktop"
cp "$here/share/icons/hicolor/scalable/apps/netbuilder.svg" "$data/icons/hicolor/scalable/apps/netbuilder.svg"
cp "$here/share/mime/packages/netbuilder.xml" "$data/mime/packages/netbuilder.xml"
command -v update-mime-database >/dev/null && update-mime-database "$data/mime" || true
command -v update-desktop-database >/dev/null && update-desktop-database "$data/applications" || true
echo "Installed NetBuilder in $opt; run netbuilder-app (or choose NetBuilder in the applications menu)."
case ":$PATH:" in *":$bin:"*) ;; *) echo "Add $bin to PATH to run netbuilder from a terminal." ;; esac
