#!/usr/bin/env bash
# Builds the Debian package: dist/escrow-vault_VERSION_ARCH.deb (docs/install.md).
#   scripts/package.sh
# Builds the Release build in build/ exactly as scripts/test.sh does (tests on), so after
# scripts/test.sh nothing is rebuilt, and packages what CI tested: `cmake --install` of
# build/ (packaging/CMakeLists.txt) into a staging tree, the Debian metadata of
# packaging/debian/, dependencies from dpkg-shlibdeps, then dpkg-deb. No network (but
# install-deps.sh's apt-get the first time).
set -euo pipefail
cd "$(dirname "$0")/.."
root_dir=$PWD
out=${OUT_DIR:-$root_dir/dist}
scripts/install-deps.sh >/dev/null
start=$SECONDS
BUILD_DIR=build BUILD_TYPE=Release scripts/build.sh -DESCROW_BUILD_TESTS=ON
echo "package: build/ (Release, tests on) built or up to date after $((SECONDS - start)) s"

deb_src=packaging/debian
version=$(dpkg-parsechangelog -l "$deb_src/changelog" -S Version)
arch=$(dpkg --print-architecture)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
stage=$work/escrow-vault
doc=$stage/usr/share/doc/escrow-vault

DESTDIR=$stage cmake --install build --prefix /usr --strip >/dev/null
install -m 0644 "$deb_src/copyright" "$doc/copyright"
gzip -9n <"$deb_src/changelog" >"$doc/changelog.Debian.gz"
gzip -9n "$stage"/usr/share/man/man*/*
# Owners are root (dpkg-deb --root-owner-group); modes as Debian expects whatever the umask.
find "$stage" -type d -exec chmod 0755 {} +
find "$stage" -type f -exec chmod 0644 {} +
chmod 0755 "$stage"/usr/sbin/*

# Shared-library dependencies of the four programs, as Debian package names.
mkdir -p "$work/src/debian"
printf 'Source: escrow-vault\n\nPackage: escrow-vault\nArchitecture: any\n' >"$work/src/debian/control"
shlibs=$(cd "$work/src" && dpkg-shlibdeps -O "$stage"/usr/sbin/* 2>/dev/null |
         sed -n 's/^shlibs:Depends=//p')
[[ -n $shlibs ]] || { echo "package.sh: dpkg-shlibdeps found no dependencies" >&2; exit 1; }

mkdir -p "$stage/DEBIAN"
install -m 0755 "$deb_src/postinst" "$deb_src/prerm" "$deb_src/postrm" "$stage/DEBIAN/"
(cd "$stage" && find etc -type f | sort | sed 's|^|/|') >"$stage/DEBIAN/conffiles"
chmod 0644 "$stage/DEBIAN/conffiles"
(cd "$stage" && find usr lib -type f -print0 | sort -z | xargs -0 md5sum) >"$stage/DEBIAN/md5sums"
chmod 0644 "$stage/DEBIAN/md5sums"
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" \
    -e "s/@DEPENDS@/$shlibs/" \
    "$deb_src/control.in" >"$stage/DEBIAN/control"

mkdir -p "$out"
deb=$out/escrow-vault_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
echo "package: $deb ($(du -k "$deb" | cut -f1) KiB) in $((SECONDS - start)) s"
echo "package: Depends: $shlibs"
