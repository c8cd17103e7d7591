# Fresh Debian 12 roots for the package test and the OCI image (sourced by package-test.sh and
# image.sh; not run by itself). A minimal bookworm root is made once with debootstrap and kept
# as a tarball under .cache/package/; every use unpacks a new copy, so each test runs on a root
# that has never seen the repository. The .debs apt fetches inside a root are kept in
# .cache/package/apt-archives, so a second run downloads nothing.
#
# The mirror is the one this machine's apt uses (its sources under /etc/apt), never one named
# here.

cache_dir="${WHOISIT_PACKAGE_CACHE:-$PWD/.cache/package}"
base_tar="$cache_dir/bookworm-minbase.tar"
apt_cache="$cache_dir/apt-archives"

say() { echo "${0##*/}: $*" >&2; }

# Tools from Debian the roots need, installed when missing.
need_tools() {
  local missing=() tool package
  for pair in "$@"; do
    tool=${pair%%:*}
    package=${pair#*:}
    command -v "$tool" >/dev/null || missing+=("$package")
  done
  if ((${#missing[@]})); then
    local sudo=""
    [[ $(id -u) -ne 0 ]] && sudo="sudo"
    say "installing ${missing[*]}"
    $sudo apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
  fi
}

# The apt sources of this machine for Debian's own archive (bookworm, its updates and its
# security suite), as one-line entries, in both formats apt reads. Other repositories (a
# vendor's, signed by a key the new root lacks) are left out.
debian_sources() {
  local files=()
  [[ -f /etc/apt/sources.list ]] && files+=(/etc/apt/sources.list)
  for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [[ -f $f ]] && files+=("$f")
  done
  ((${#files[@]})) || return 0
  awk '
    function flush() {
      if (types ~ /(^| )deb( |$)/ && suites ~ /bookworm/ && uris != "") {
        n = split(uris, u, " "); m = split(suites, s, " ")
        for (i = 1; i <= n; i++) for (j = 1; j <= m; j++) print "deb " u[i] " " s[j] " main"
      }
      types = uris = suites = ""
    }
    FILENAME ~ /\.sources$/ {
      if ($0 ~ /^[ \t]*$/) { flush(); next }
      if ($1 == "Types:") { $1 = ""; types = $0 }
      if ($1 == "URIs:") { $1 = ""; uris = $0 }
      if ($1 == "Suites:") { $1 = ""; suites = $0 }
      next
    }
    $1 == "deb" && $0 !~ /^[ \t]*#/ {
      # deb [options] URI SUITE COMPONENTS...
      i = 2
      if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
      if ($(i + 1) ~ /^bookworm/) print "deb " $i " " $(i + 1) " main"
    }
    ENDFILE { if (FILENAME ~ /\.sources$/) flush() }
  ' "${files[@]}" | sed 's|  *| |g; s| $||' | awk '!seen[$0]++'
}

# The mirror of bookworm itself (not -updates or -security), for debootstrap.
debian_mirror() {
  debian_sources | awk '$3 == "bookworm" { print $2; exit }'
}

# Makes the cached minimal bookworm root when it is not there yet.
ensure_base_root() {
  [[ -s $base_tar ]] && return 0
  need_tools debootstrap:debootstrap
  local mirror
  mirror=$(debian_mirror)
  [[ -n $mirror ]] || { say "no bookworm entry in this machine's apt sources"; return 1; }
  mkdir -p "$cache_dir" "$apt_cache"
  local root
  root=$(mktemp -d "$cache_dir/debootstrap.XXXXXX")
  # A root's / is 0755 (mktemp made it 0700: users in the root could not reach /usr).
  chmod 0755 "$root"
  say "debootstrap bookworm (minbase) from this machine's apt mirror; once, then cached"
  local started=$SECONDS
  debootstrap --variant=minbase --cache-dir="$apt_cache" bookworm "$root" "$mirror" >&2
  # The root's apt uses the same mirrors as this machine (updates and security included),
  # and keeps every .deb it fetches for the next run.
  debian_sources > "$root/etc/apt/sources.list"
  rm -rf "$root/var/cache/apt/archives"/*.deb
  tar -C "$root" -cf "$base_tar.part" .
  mv "$base_tar.part" "$base_tar"
  rm -rf "$root"
  say "base root made in $((SECONDS - started)) s ($(du -h "$base_tar" | cut -f1))"
}

# A new root unpacked from the cached one, its path on stdout.
new_root() {
  ensure_base_root
  local root
  root=$(mktemp -d "${TMPDIR:-/tmp}/whoisit-root.XXXXXX")
  tar -C "$root" -xf "$base_tar"
  chmod 0755 "$root"
  echo "$root"
}

# Mounts what programs inside a root expect (/proc, /dev, /sys, the apt cache), and this
# machine's name resolution and extra CA certificates (a TLS-inspecting proxy's, on machines
# behind one), as a user's machine on this network has them.
enter_root() {
  local root=$1
  mount -t proc proc "$root/proc"
  mount --rbind /dev "$root/dev"
  mount --make-rslave "$root/dev"
  mount -t sysfs sysfs "$root/sys"
  mount -t tmpfs tmpfs "$root/tmp"
  mkdir -p "$apt_cache/partial"
  mount --bind "$apt_cache" "$root/var/cache/apt/archives"
  cp -L /etc/resolv.conf "$root/etc/resolv.conf"
  if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    mkdir -p "$root/usr/local/share/ca-certificates"
    cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
  fi
  # The proxy's CA reaches apt before ca-certificates is installed in the root.
  if [[ -f /etc/ssl/certs/ca-certificates.crt ]]; then
    mkdir -p "$root/etc/ssl/certs"
    [[ -e $root/etc/ssl/certs/ca-certificates.crt ]] ||
      cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
  fi
}

# Undoes enter_root; fails when something is still mounted under the root.
leave_root() {
  local root=$1
  for m in var/cache/apt/archives tmp sys dev proc; do
    if mountpoint -q "$root/$m"; then
      umount -R "$root/$m" 2>/dev/null || umount -lR "$root/$m"
    fi
  done
  if grep -q " $root/" /proc/self/mounts; then
    say "still mounted under $root: $(grep " $root/" /proc/self/mounts | cut -d' ' -f2)"
    return 1
  fi
}

# Undoes enter_root and deletes the root. Nothing is deleted while anything is still mounted
# under it: the apt cache is a bind mount of this tree's own disk, which rm's
# --one-file-system would not stop at.
drop_root() {
  local root=$1
  [[ -n $root && -d $root ]] || return 0
  leave_root "$root" || return 1
  rm -rf --one-file-system "$root"
}

# Runs a command inside a root, with a clean environment.
in_root() {
  local root=$1
  shift
  chroot "$root" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive \
    ${PIP_INDEX_URL:+PIP_INDEX_URL=$PIP_INDEX_URL} "$@"
}
