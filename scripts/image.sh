#!/usr/bin/env bash
# Builds whoisit's OCI image without a container daemon: a fresh Debian 12 root
# (debootstrap, scripts/debian-root.sh), the .deb installed in it with apt, packed into an
# OCI layout with umoci and written as an OCI archive with skopeo.
#
#   scripts/image.sh [PACKAGE.deb]     (default: build one with scripts/package.sh)
#
# Out: target/image/whoisit-VERSION.oci.tar (load it with `podman load -i`, `skopeo copy
# oci-archive:FILE docker://REGISTRY/whoisit:VERSION`, or `ctr image import`), and the OCI
# layout target/image/oci (tag VERSION). What it holds: Debian 12 (minbase), whoisit and the
# libraries it needs (no recommends: no Mesa, no X server), the site config
# /etc/whoisit/config.ron; it runs as the package's `whoisit` user (never root), `serve` on
# 0.0.0.0:8080 by default; the models are not in it: they go to the volume
# /var/lib/whoisit/models, fetched on first use (or by an init container: deploy/kubernetes).
# Needs root (chroot, mounts, file ownership in the layers).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/debian-root.sh

[[ $(id -u) -eq 0 ]] || { say "needs root (chroot, mounts): sudo $0"; exit 1; }
need_tools umoci:umoci skopeo:skopeo

deb=${1:-$(scripts/package.sh | tail -1)}
version=$(dpkg-deb -f "$deb" Version)
tag=${version%-*}
out=target/image
oci="$out/oci"
archive="$out/whoisit-$tag.oci.tar"
started=$SECONDS

root=$(new_root)
bundle=""
cleanup() {
  drop_root "$root"
  [[ -n $bundle ]] && rm -rf "$bundle"
}
trap cleanup EXIT
enter_root "$root"
cp "$deb" "$root/tmp/"
in_root "$root" apt-get update -q >&2
in_root "$root" apt-get install -y -q --no-install-recommends "/tmp/${deb##*/}" >&2
uid=$(in_root "$root" id -u whoisit)
gid=$(in_root "$root" id -g whoisit)
# The models' volume, owned by the user the image runs as (a fresh volume copies this).
install -d -o "$uid" -g "$gid" -m 0700 "$root/var/lib/whoisit/models"

leave_root "$root"
# Nothing a running image needs: package lists, caches, logs of the build.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/debconf/*-old \
  "$root"/var/log/apt/* "$root"/var/log/dpkg.log "$root"/tmp/* "$root/etc/resolv.conf"
: > "$root/etc/resolv.conf"

rm -rf "$oci" "$archive"
mkdir -p "$out"
bundle=$(mktemp -d "$out/bundle.XXXXXX")
umoci init --layout "$oci"
umoci new --image "$oci:$tag"
umoci unpack --image "$oci:$tag" "$bundle/b" >&2
rmdir "$bundle/b/rootfs"
mv "$root" "$bundle/b/rootfs"
root=""
umoci repack --image "$oci:$tag" "$bundle/b" >&2
created=$(date -u -d "@$(git log -1 --format=%ct 2>/dev/null || date +%s)" +%Y-%m-%dT%H:%M:%SZ)
umoci config --image "$oci:$tag" \
  --author "whoisit developers" --created "$created" \
  --config.user "$uid:$gid" \
  --config.workingdir /var/lib/whoisit \
  --config.env "RUST_LOG=whoisit=info" --config.env "HOME=/var/lib/whoisit" \
  --config.entrypoint /usr/bin/whoisit \
  --config.entrypoint=--config --config.entrypoint=/etc/whoisit/config.ron \
  --config.cmd=serve --config.cmd=--listen --config.cmd=0.0.0.0:8080 \
  --config.exposedports 8080/tcp \
  --config.volume /var/lib/whoisit/models \
  --config.label "org.opencontainers.image.title=whoisit" \
  --config.label "org.opencontainers.image.version=$version" \
  --config.label "org.opencontainers.image.description=Real-time face recognition: serve, worker, camera, events" \
  --history.created_by "scripts/image.sh: debootstrap bookworm minbase + apt install ${deb##*/}" >&2
umoci gc --layout "$oci"
skopeo copy --quiet "oci:$oci:$tag" "oci-archive:$archive:whoisit:$tag"
say "$archive: $(( $(stat -c %s "$archive") / 1024 / 1024 )) MiB, user $uid:$gid, in $((SECONDS - started)) s"
echo "$archive"
