#!/usr/bin/env bash
# Build Keyward's container image without Docker: the release binary, plus a
# distroless-like base made from Debian 12 packages, written as an OCI image
# layout (see image/assemble.py for what goes in and why). Runs on a Debian 12
# (bookworm) host, as the Dockerfile's builder stage does; needs cargo,
# python3, apt-get, dpkg-deb and readelf (binutils).
#
#   image/build.sh            # -> <target-dir>/image/keyward, tag = the crate version
#   skopeo copy oci:<target-dir>/image/keyward:0.1.0 docker://registry.example.com/platform/keyward:0.1.0
#
# The image is the Dockerfile's: same base contents, user, entrypoint, cmd,
# ports and labels (read from the Dockerfile itself). `docker build .` stays
# the path for machines with Docker/BuildKit.
#
# Environment: CARGO_TARGET_DIR (cargo's, reused: a warm release build only
# relinks), KEYWARD_IMAGE_OUT (the layout's folder), KEYWARD_DEB_CACHE (where
# the .debs are kept, default ~/.cache/keyward/image-debs), SOURCE_DATE_EPOCH
# (file and config times; default: the commit's time).
set -euo pipefail
cd "$(dirname "$0")/.."

. /etc/os-release
if [ "${VERSION_CODENAME:-}" != bookworm ]; then
  echo "image/build.sh: needs Debian 12 (bookworm), the runtime's release, so that the glibc the binary" >&2
  echo "links against is the one the image carries; this is ${PRETTY_NAME:-unknown}. Use 'docker build .'." >&2
  exit 1
fi

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
app_version=$(sed -n 's/^appVersion: "\(.*\)"/\1/p' charts/keyward/Chart.yaml)
if [ "$version" != "$app_version" ]; then
  echo "image/build.sh: Cargo.toml's version ($version) is not the chart's appVersion ($app_version)," >&2
  echo "the chart's default image tag: make them equal" >&2
  exit 1
fi

step() { printf '== %s (%s)\n' "$*" "$(date -u +%H:%M:%S)"; }

step "cargo build --release --locked --bin keyward"
cargo build --release --locked --bin keyward
target_dir=$(cargo metadata --format-version 1 --no-deps --locked \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
binary=$target_dir/release/keyward

step "Debian packages"
# The versions installed here: the binary was linked against this glibc.
debs=${KEYWARD_DEB_CACHE:-$HOME/.cache/keyward/image-debs}
mkdir -p "$debs"
chmod 0755 "$debs"
rm -rf "$debs/current" && mkdir "$debs/current"
for pkg in libc6 libgcc-s1 gcc-12-base ca-certificates; do
  ver=$(dpkg-query -W -f '${Version}' "$pkg" 2>/dev/null || true)
  [ -n "$ver" ] || { echo "image/build.sh: $pkg is not installed here" >&2; exit 1; }
  deb=$(ls "$debs/${pkg}_${ver//:/%3a}_"*.deb 2>/dev/null | head -n 1 || true)
  if [ -z "$deb" ]; then
    (cd "$debs" && apt-get download -q "$pkg=$ver" >/dev/null 2>&1) \
      || { [ "$(id -u)" = 0 ] && apt-get update -qq && (cd "$debs" && apt-get download -q "$pkg=$ver" >/dev/null); } \
      || { echo "image/build.sh: cannot download $pkg $ver (apt-get download)" >&2; exit 1; }
    deb=$(ls "$debs/${pkg}_${ver//:/%3a}_"*.deb | head -n 1)
  fi
  ln -s "$deb" "$debs/current/"
  echo "$pkg $ver"
done

step "assemble the OCI image layout"
out=${KEYWARD_IMAGE_OUT:-$target_dir/image/keyward}
mkdir -p "$(dirname "$out")"
revision=$(git rev-parse HEAD 2>/dev/null || true)
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
read -r digest size < <(python3 image/assemble.py --binary "$binary" --debs "$debs/current" \
  --dockerfile Dockerfile --out "$out" --tag "$version" --revision "$revision")
echo "image:  oci:$out:$version"
echo "digest: $digest"
echo "size:   $size bytes compressed ($(du -sh "$out" | cut -f1) on disk)"
