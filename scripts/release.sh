#!/usr/bin/env bash
# Release build: static datahub binaries (no cgo, -trimpath) for each target, version-stamped,
# with a SHA-256 checksum file and a software bill of materials, into dist/.
#
#   scripts/release.sh                      linux/amd64 linux/arm64 darwin/arm64 windows/amd64
#   scripts/release.sh linux/amd64          only the targets named
#   VERSION=v0.4.0 scripts/release.sh       the version to stamp (default: git describe --tags --always --dirty)
#   DIST=/tmp/out scripts/release.sh        another output folder (default: dist)
#   SOURCE_DATE_EPOCH=1733270400 ...        the build date to stamp (default: now), for reproducible builds
#
# Output: datahub_<version>_<os>_<arch>[.exe], datahub_<version>.cdx.json (CycloneDX 1.5) and
# SHA256SUMS over all of them (check with: cd dist && sha256sum -c SHA256SUMS).
set -euo pipefail
cd "$(dirname "$0")/.."

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(linux/amd64 linux/arm64 darwin/arm64 windows/amd64)
dist=${DIST:-dist}
version=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo "")
# The same rule as git describe --dirty: changes to tracked files, untracked ones do not count.
if [ -n "$commit" ] && ! git diff --quiet HEAD -- 2>/dev/null; then commit+=-dirty; fi
if [ -n "${SOURCE_DATE_EPOCH:-}" ]; then
  date=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
else
  date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
fi
pkg=github.com/datahub-oss/datahub/internal/cli
ldflags="-s -w -X $pkg.Version=$version -X $pkg.Commit=$commit -X $pkg.Date=$date"

mkdir -p "$dist"
bins=()
for t in "${targets[@]}"; do
  os=${t%/*} arch=${t#*/}
  name="datahub_${version}_${os}_${arch}"
  [ "$os" = windows ] && name+=.exe
  printf '== build %s\n' "$name" >&2
  # -buildvcs=false: the stamps above say which commit this is; Go's own VCS stamp would
  # differ between a clone and a worktree and make the builds less reproducible.
  CGO_ENABLED=0 GOOS=$os GOARCH=$arch go build -trimpath -buildvcs=false -ldflags "$ldflags" \
    -o "$dist/$name" ./cmd/datahub
  bins+=("$name")
done

# The bill of materials is written here from `go version -m` (the modules each binary links,
# with their go.sum hashes) rather than by a generator such as syft or cyclonedx-gomod: the Go
# toolchain already records exactly what went in, and a release should not depend on
# downloading another tool. Components are the union over the binaries built.
sbom="datahub_${version}.cdx.json"
printf '== bill of materials %s\n' "$sbom" >&2
for b in "${bins[@]}"; do go version -m "$dist/$b"; done | awk -v version="$version" -v date="$date" '
  function esc(s) { gsub(/\\/, "\\\\", s); gsub(/"/, "\\\"", s); return s }
  $1 == "mod" && main == "" { main = $2 }
  $1 == "dep" { comp[$2] = $3; hash[$2] = $4; last = $2 }
  $1 == "=>" { delete comp[last]; delete hash[last]; comp[$2] = $3; hash[$2] = $4 }  # replaced: what was linked
  END {
    printf "{\n  \"bomFormat\": \"CycloneDX\",\n  \"specVersion\": \"1.5\",\n  \"version\": 1,\n"
    printf "  \"metadata\": {\n    \"timestamp\": \"%s\",\n", date
    printf "    \"component\": {\"type\": \"application\", \"name\": \"%s\", \"version\": \"%s\", \"purl\": \"pkg:golang/%s@%s\"}\n  },\n", esc(main), esc(version), esc(main), esc(version)
    printf "  \"components\": ["
    n = 0
    for (p in comp) names[++n] = p
    # sort for a stable file (awk has no portable sort)
    for (i = 2; i <= n; i++) { v = names[i]; for (j = i - 1; j > 0 && names[j] > v; j--) names[j+1] = names[j]; names[j+1] = v }
    for (i = 1; i <= n; i++) {
      p = names[i]
      printf "%s\n    {\"type\": \"library\", \"name\": \"%s\", \"version\": \"%s\", \"purl\": \"pkg:golang/%s@%s\"", (i > 1 ? "," : ""), esc(p), esc(comp[p]), esc(p), esc(comp[p])
      if (hash[p] != "") printf ", \"properties\": [{\"name\": \"go.sum\", \"value\": \"%s\"}]", esc(hash[p])
      printf "}"
    }
    printf "\n  ]\n}\n"
  }' >"$dist/$sbom"

(cd "$dist" && sha256sum "${bins[@]}" "$sbom" >SHA256SUMS)
printf '== %s: %s\n' "$dist" "$(cd "$dist" && echo "${bins[@]}" "$sbom" SHA256SUMS)" >&2
