#!/usr/bin/env bash
# release.sh builds the release archives of one version into dist/:
#
#   scripts/release.sh v1.2.3
#
#   dist/rtmate-v1.2.3-linux-amd64.tar.gz    rtmate-server rtmate rtmate-token rtmate-bench
#   dist/rtmate-v1.2.3-linux-arm64.tar.gz    the same
#   dist/rtmate-v1.2.3-darwin-arm64.tar.gz   rtmate rtmate-token (the client tools)
#   dist/SHA256SUMS                          sha256sum -c SHA256SUMS checks them
#
# Each archive holds one directory rtmate-VERSION-OS-ARCH/ with the binaries, LICENSE and
# README.md; the Linux ones also hold deploy/ (systemd unit, example config, nginx snippet,
# Dockerfile). rtmate-bench is Linux-only: it drives its connections with epoll and ties its
# worker processes to itself with Pdeathsig, neither of which exists on darwin.
#
# The builds are reproducible: static (CGO_ENABLED=0), -trimpath, no build id, fixed GOAMD64 and
# GOARM64, the version, commit and build date stamped with -ldflags -X (rt-common/buildinfo),
# the build date taken from SOURCE_DATE_EPOCH (default: the commit's time, so two builds of one
# commit are byte-identical), and archives with sorted entries, fixed owner, modes and mtime,
# gzip without a name or timestamp. scripts/release-test.sh checks that.
#
# Environment:
#   PLATFORMS="linux/amd64 ..."   build only these (default: all three)
#   DIST=DIR                      output directory (default dist/); it is emptied first
#   SOURCE_DATE_EPOCH=SECONDS     the build date (default: git log -1 --format=%ct)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

if [ $# -ne 1 ]; then
	echo "usage: $0 VERSION   (e.g. v1.2.3)" >&2
	exit 2
fi
VERSION=$1
if ! [[ $VERSION =~ ^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]]; then
	echo "release: version $VERSION: want vMAJOR.MINOR.PATCH[-PRERELEASE]" >&2
	exit 2
fi
PLATFORMS=${PLATFORMS:-linux/amd64 linux/arm64 darwin/arm64}
DIST=${DIST:-$ROOT/dist}

COMMIT=$(git rev-parse HEAD)
if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
	# The build is of the work tree, not of the commit: say so in -version.
	echo "release: warning: uncommitted changes; the commit is stamped as $COMMIT-dirty" >&2
	COMMIT=$COMMIT-dirty
fi
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}
export SOURCE_DATE_EPOCH
DATE=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)

PKG=github.com/rtmate/rtmate/rt-common/buildinfo
LDFLAGS="-s -w -buildid= -X $PKG.version=$VERSION -X $PKG.commit=$COMMIT -X $PKG.date=$DATE"

# cmd path for each binary.
declare -A CMD=(
	[rtmate-server]=./rtmate-server/cmd/rtmate-server
	[rtmate]=./rtmate-client/cmd/rtmate
	[rtmate-token]=./rtmate-auth/cmd/rtmate-token
	[rtmate-bench]=./rtmate-client/cmd/rtmate-bench
)
binaries_for() {
	case $1 in
	linux/*) echo rtmate-server rtmate rtmate-token rtmate-bench ;;
	darwin/*) echo rtmate rtmate-token ;;
	*) echo "release: unsupported platform $1" >&2; return 1 ;;
	esac
}

rm -rf "$DIST"
mkdir -p "$DIST"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

for platform in $PLATFORMS; do
	os=${platform%/*} arch=${platform#*/}
	name=rtmate-$VERSION-$os-$arch
	dir=$stage/$name
	mkdir -p "$dir"
	bins=$(binaries_for "$platform")
	echo "release: $name: $bins"
	for b in $bins; do
		CGO_ENABLED=0 GOOS=$os GOARCH=$arch GOAMD64=v1 GOARM64=v8.0 \
			go build -trimpath -buildvcs=false -ldflags "$LDFLAGS" -o "$dir/$b" "${CMD[$b]}"
	done
	cp LICENSE README.md "$dir/"
	if [ "$os" = linux ]; then
		mkdir -p "$dir/deploy"
		cp -R deploy/. "$dir/deploy/"
	fi
	# Modes independent of the umask; then an archive independent of the file system's order,
	# the builder's user and the time.
	find "$dir" -type d -exec chmod 0755 {} +
	find "$dir" -type f -exec chmod 0644 {} +
	for b in $bins; do chmod 0755 "$dir/$b"; done
	find "$dir" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
	tar --sort=name --format=gnu --owner=0 --group=0 --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" \
		-C "$stage" -cf - "$name" | gzip -n -9 >"$DIST/$name.tar.gz"
done

(cd "$DIST" && LC_ALL=C sha256sum -- *.tar.gz >SHA256SUMS)
echo "release: $VERSION (commit $COMMIT, built $DATE) in $DIST:"
cat "$DIST/SHA256SUMS"
