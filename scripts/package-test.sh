#!/usr/bin/env bash
# The package test (scripts/test.sh runs it when WHOISIT_PACKAGE_TEST=1, as CI does): builds the
# .deb (scripts/package.sh), installs it with apt into a fresh Debian 12 root that has never
# seen the repository, and uses it there as a user and an admin would; then removes and purges
# it and checks that only the admin's data is left. Needs root (chroot and mounts).
#
#   scripts/package-test.sh [PACKAGE.deb]     (default: build one with scripts/package.sh)
#
# The root comes from a cached debootstrap (scripts/debian-root.sh), the .debs apt fetches from
# .cache/package/apt-archives: a second run fetches nothing but the models and photos.
# Figures (package size, install time) are printed at the end; the window's screenshot is kept
# in target/ci-artifacts/package-window.png.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/debian-root.sh

[[ $(id -u) -eq 0 ]] || { say "needs root (chroot, mounts): sudo $0"; exit 1; }
passed=0
check() { say "ok: $*"; passed=$((passed + 1)); }
fail() { say "FAILED: $*"; say "$passed passed, 1 failed"; exit 1; }

if [[ -n ${1:-} ]]; then
  deb=$1
  lintian --fail-on error,warning "$deb" >&2 || fail "lintian"
else
  # package.sh fails on any lintian error or warning itself.
  deb=$(scripts/package.sh | tail -1)
fi
deb_size=$(stat -c %s "$deb")
check "lintian: no error or warning (the rest explained in deploy/debian/lintian-overrides)"

root=$(new_root)
server=""
cleanup() {
  [[ -n $server ]] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  drop_root "$root"
}
trap cleanup EXIT
enter_root "$root"
cp "$deb" "$root/tmp/"
inside_deb="/tmp/${deb##*/}"
as_user() { in_root "$root" setpriv --reuid=ada --regid=ada --init-groups env HOME=/home/ada USER=ada "$@"; }
as_service() {
  in_root "$root" setpriv --reuid=whoisit --regid=whoisit --init-groups env HOME=/var/lib/whoisit \
    /usr/bin/whoisit --config /etc/whoisit/config.ron "$@"
}

in_root "$root" apt-get update -q >&2
# What a user runs: apt pulls OpenCV, dlib and the rest from the shared libraries declared.
install_started=$SECONDS
in_root "$root" apt-get install -y -q "$inside_deb" >&2
install_secs=$((SECONDS - install_started))
installed_packages=$(in_root "$root" dpkg-query -W -f='${binary:Package}\n' | wc -l)
check "apt install ./${deb##*/} in $install_secs s ($installed_packages packages in the root)"

version=$(in_root "$root" whoisit --version)
[[ $version == "whoisit "* ]] || fail "whoisit --version said: $version"
check "whoisit --version: $version"
missing_libs=$(in_root "$root" ldd /usr/bin/whoisit | grep 'not found' || true)
[[ -z $missing_libs ]] || fail "libraries not installed: $missing_libs"
check "every library the binary links is installed"

# The admin's side: a system user, its state folder, the site config readable by it only.
[[ $(in_root "$root" stat -c '%U %a' /var/lib/whoisit) == "whoisit 700" ]] ||
  fail "/var/lib/whoisit is $(in_root "$root" stat -c '%U %a' /var/lib/whoisit)"
[[ $(in_root "$root" stat -c '%U:%G %a' /etc/whoisit/config.ron) == "root:whoisit 640" ]] ||
  fail "/etc/whoisit/config.ron is $(in_root "$root" stat -c '%U:%G %a' /etc/whoisit/config.ron)"
[[ ! -e $root/var/lib/whoisit/models ]] || fail "the package fetched models by itself"
check "whoisit user, /var/lib/whoisit 0700, /etc/whoisit/config.ron 0640 root:whoisit, no models yet"

# A plain user's first steps.
in_root "$root" adduser --disabled-password --gecos "" ada >/dev/null
as_user whoisit models fetch >&2
check "whoisit models fetch (as a user, into ~/.local/share/whoisit/models)"
as_user whoisit recognize --source demo --headless --max-frames 60 > "$root/tmp/demo.jsonl"
grep -q '"name":"Barack Obama"' "$root/tmp/demo.jsonl" ||
  fail "recognize --source demo named nobody: $(tail -1 "$root/tmp/demo.jsonl")"
check "whoisit recognize --source demo --headless names Barack Obama"

# Tools the checks below use; installed after whoisit, so they hid no missing dependency above.
in_root "$root" apt-get install -y -q --no-install-recommends man-db desktop-file-utils systemd \
  xvfb xauth x11-apps >&2
in_root "$root" man -w whoisit >/dev/null || fail "man -w whoisit found no page"
for page in whoisit-serve whoisit-people-add whoisit-kiosk-install; do
  in_root "$root" man -w "$page" >/dev/null || fail "no man page $page"
done
check "man pages: $(in_root "$root" man -w whoisit) and one per command"
for shell_file in /usr/share/bash-completion/completions/whoisit \
  /usr/share/zsh/vendor-completions/_whoisit /usr/share/fish/vendor_completions.d/whoisit.fish; do
  grep -q kiosk "$root$shell_file" || fail "$shell_file does not complete the commands"
done
check "completions for bash, zsh and fish"
in_root "$root" desktop-file-validate /usr/share/applications/whoisit.desktop ||
  fail "desktop-file-validate"
[[ -s $root/usr/share/icons/hicolor/48x48/apps/whoisit.png ]] || fail "no 48x48 icon"
check "desktop-file-validate /usr/share/applications/whoisit.desktop; icons"
units=$(cd "$root" && ls lib/systemd/system/whoisit-*.service | sed 's|^|/|')
[[ $(wc -l <<< "$units") -eq 4 ]] || fail "units: $units"
in_root "$root" systemd-analyze verify $units >&2 || fail "systemd-analyze verify $units"
enabled=$(find "$root/etc/systemd/system" -name 'whoisit-*' 2>/dev/null || true)
[[ -z $enabled ]] || fail "the package enabled units: $enabled"
check "systemd-analyze verify on the 4 units; none enabled"

# The service as its unit runs it: the whoisit user, the site config, models fetched on
# first use into /var/lib/whoisit. /healthz answers once they are loaded.
port=$((20000 + RANDOM % 20000))
chroot "$root" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/var/lib/whoisit LANG=C.UTF-8 \
  RUST_LOG=whoisit=info setpriv --reuid=whoisit --regid=whoisit --init-groups \
  /usr/bin/whoisit --config /etc/whoisit/config.ron serve --listen "127.0.0.1:$port" \
  > "$root/tmp/serve.log" 2>&1 &
server=$!
health=""
for _ in $(seq 1 300); do
  health=$(curl -sf "http://127.0.0.1:$port/healthz" 2>/dev/null) && break
  kill -0 "$server" 2>/dev/null || fail "whoisit serve ended: $(tail -5 "$root/tmp/serve.log")"
  sleep 1
done
[[ $health == *'"ok"'* ]] || fail "/healthz: ${health:-no answer}; $(tail -5 "$root/tmp/serve.log")"
kill -TERM "$server"
wait "$server" || fail "whoisit serve did not stop cleanly on SIGTERM"
server=""
[[ -s $root/var/lib/whoisit/models/dlib_face_recognition_resnet_model_v1.dat ]] ||
  fail "serve did not fetch its models into /var/lib/whoisit/models"
check "whoisit serve (whoisit user, /etc/whoisit/config.ron) answers /healthz: $health"
as_service keys list >/dev/null || fail "the service's tools cannot read its config"

# The window, as the applications menu starts it: no camera here, so the demo. Screenshots
# along the way; one must show Obama's box in the known colour (46, 204, 113).
as_user xvfb-run -a -s "-screen 0 1280x800x24" sh -c \
  'whoisit --run-for 34 --report /tmp/window.json & for i in 1 2 3 4 5; do sleep 5;
   xwd -root -silent > /tmp/window.$i.xwd; done; wait' \
  > "$root/tmp/window.log" 2>&1 || fail "the window: $(tail -5 "$root/tmp/window.log")"
python3 - "$root/tmp/window.json" <<'EOF' || fail "the window's report: $(cat "$root/tmp/window.json")"
import json, sys
report = json.load(open(sys.argv[1]))
assert report["source"].endswith("demo-640x480.avi"), report["source"]
assert report["frames_shown"] > 100 and report["faces"] > 50, report
EOF
mkdir -p target/ci-artifacts
best=0
for i in 1 2 3 4 5; do
  convert "xwd:$root/tmp/window.$i.xwd" "$root/tmp/window.$i.png"
  known=$(convert "$root/tmp/window.$i.png" -fill black +opaque "rgb(46,204,113)" \
    -fill white -opaque "rgb(46,204,113)" -format "%[fx:round(mean*w*h)]" info:)
  if ((known > best)); then
    best=$known
    cp "$root/tmp/window.$i.png" target/ci-artifacts/package-window.png
  fi
done
((best > 300)) || fail "no screenshot shows a known face's box (target/ci-artifacts/package-window.png)"
check "whoisit opens the window on the demo, Obama boxed as known ($(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["frames_shown"], "frames shown,", r["faces"], "faces")' "$root/tmp/window.json"))"

# The kiosk for a user, and undone.
mkdir -p "$root/etc/lightdm"
in_root "$root" whoisit kiosk install --user ada >&2
autostart=/home/ada/.config/autostart/whoisit-kiosk.desktop
in_root "$root" desktop-file-validate "$autostart" || fail "the kiosk's autostart entry is not valid"
[[ $(in_root "$root" stat -c %U "$autostart") == ada ]] || fail "$autostart is not ada's"
grep -q '^autologin-user=ada$' "$root/etc/lightdm/lightdm.conf.d/50-whoisit-kiosk.conf" ||
  fail "no automatic login for ada"
in_root "$root" whoisit kiosk remove --user ada >&2
[[ ! -e $root$autostart && ! -e $root/etc/lightdm/lightdm.conf.d/50-whoisit-kiosk.conf ]] ||
  fail "kiosk remove left its files"
rm -rf "$root/etc/lightdm"
check "whoisit kiosk install --user ada, then kiosk remove"

# Remove keeps the admin's config and data; purge leaves the data only.
in_root "$root" apt-get remove -y -q whoisit >&2
[[ ! -e $root/usr/bin/whoisit && -f $root/etc/whoisit/config.ron ]] ||
  fail "after remove: the binary must be gone and the site config kept"
in_root "$root" apt-get purge -y -q whoisit >&2
[[ ! -e $root/etc/whoisit && ! -e $root/var/lib/whoisit/models ]] ||
  fail "after purge: /etc/whoisit and the fetched models must be gone"
# Not looked at: the user's home (ada's own models and settings) and man-db's cache of pages
# formatted when `man` ran above (man-db's own, cleaned by its cron job).
left=$(cd "$root" && find . -xdev \( -path ./proc -o -path ./sys -o -path ./dev -o -path ./tmp \
  -o -path ./home/ada -o -path ./var/cache/man \) -prune -o -iname '*whoisit*' -print |
  grep -v '^\./var/lib/whoisit$' || true)
[[ -z $left ]] || fail "left after purge: $left"
kept=$(cd "$root/var/lib/whoisit" && ls -A | tr '\n' ' ')
for file in $kept; do
  [[ $file == gallery.sqlite3* || $file == settings.ron ]] ||
    fail "/var/lib/whoisit keeps $file, which is not the admin's data"
done
check "purge: nothing left but the admin's data in /var/lib/whoisit (${kept:-empty}) and the whoisit user"

drop_root "$root"

# The OCI image: built from another fresh root, then unpacked as a runtime would.
archive=$(scripts/image.sh "$deb" | tail -1)
tag=$(dpkg-deb -f "$deb" Version)
tag=${tag%-*}
image_config=$(skopeo inspect --config "oci-archive:$archive")
python3 - "$image_config" <<'EOF' || fail "the image's config: $image_config"
import json, sys
config = json.loads(sys.argv[1])["config"]
user = config["User"].split(":")[0]
assert user.isdigit() and int(user) != 0, f"runs as {config['User']}"
assert config["Entrypoint"][0] == "/usr/bin/whoisit", config["Entrypoint"]
assert "/var/lib/whoisit/models" in config["Volumes"], config["Volumes"]
assert "8080/tcp" in config["ExposedPorts"], config["ExposedPorts"]
EOF
image_user=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["config"]["User"])' "$image_config")
bundle=$(mktemp -d "${TMPDIR:-/tmp}/whoisit-bundle.XXXXXX")
umoci unpack --image "target/image/oci:$tag" "$bundle/b" >&2
image_version=$(chroot --userspec="$image_user" "$bundle/b/rootfs" /usr/bin/whoisit --version)
[[ $image_version == "$version" ]] || fail "the image's whoisit --version: $image_version"
image_models=$(stat -c '%u %a' "$bundle/b/rootfs/var/lib/whoisit/models")
[[ $image_models == "${image_user%%:*} 700" ]] || fail "the models' volume is $image_models"
image_mib=$(du -sm "$bundle/b/rootfs" | cut -f1)
rm -rf "$bundle"
check "OCI image $archive ($(( $(stat -c %s "$archive") / 1024 / 1024 )) MiB compressed, $image_mib MiB unpacked): user $image_user, umoci unpack, $image_version"

say "package $((deb_size / 1024)) KiB; apt install (with its dependencies) $install_secs s"
say "$passed passed, 0 failed"
