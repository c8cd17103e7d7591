//! `kiosk install`, `kiosk remove` and `kiosk run`: a machine that boots into the fullscreen
//! kiosk for one user, and brings it back when it ends by anything but the exit chord.
//!
//! Install writes an XDG autostart entry in the user's home (every desktop session honours
//! those: GNOME, KDE, Xfce, LXDE/LXQt, Openbox's session), which runs `whoisit kiosk run`;
//! and, where LightDM is the display manager, a drop-in that logs the user in at boot. `run`
//! supervises the window: it restarts it after a crash or an error, with a growing pause,
//! and stops when the window was left with the exit chord (staff leaving on purpose) or the
//! session ends. A camera missing at boot is the window's own business: a kiosk never falls
//! back to the demo, it shows "Camera unavailable, retrying…" until the camera is there.
//! Decision record: docs/decisions/0005-packaging.md.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use clap::{Args, Subcommand, ValueEnum as _};

use super::Global;

#[derive(Debug, Subcommand)]
pub(super) enum KioskCommand {
    /// Make USER's desktop session start the kiosk at login, restarted whenever it exits by
    /// anything but the exit chord; where LightDM is the display manager, also log USER in
    /// at boot. Run as root (or as USER, for their own session only).
    Install(InstallArgs),
    /// Undo `kiosk install` for USER: the autostart entry and the automatic login.
    Remove {
        /// The user whose session starts the kiosk.
        #[arg(long)]
        user: String,
    },
    /// Run the kiosk window and restart it whenever it exits by anything but the exit chord
    /// (what the autostart entry runs). Stops on SIGTERM or SIGHUP (the session ending).
    Run(RunArgs),
}

#[derive(Debug, Args)]
pub(super) struct InstallArgs {
    /// The user whose session starts the kiosk (a plain account, not root).
    #[arg(long)]
    user: String,
    /// The kiosk's source instead of the configured one (camera index, file, URL).
    #[arg(long, short)]
    source: Option<String>,
    /// Do not set up automatic login, only the autostart entry.
    #[arg(long)]
    no_autologin: bool,
}

#[derive(Debug, Args)]
pub(super) struct RunArgs {
    /// The kiosk's source instead of the configured one (camera index, file, URL).
    #[arg(long, short)]
    source: Option<String>,
}

/// The autostart entry's file name, under ~/.config/autostart/.
const AUTOSTART: &str = "whoisit-kiosk.desktop";
/// LightDM's drop-in for the automatic login.
const LIGHTDM_DIR: &str = "/etc/lightdm/lightdm.conf.d";
const LIGHTDM_DROP_IN: &str = "50-whoisit-kiosk.conf";

pub(super) fn kiosk_cmd(global: &Global, cmd: KioskCommand) -> Result<()> {
    match cmd {
        KioskCommand::Install(args) => install(global, &args),
        KioskCommand::Remove { user } => remove(&user),
        KioskCommand::Run(args) => run(global, args.source.as_deref()),
    }
}

impl Global {
    /// The options given explicitly, as arguments again: what `kiosk` hands the windows it
    /// starts, so they run with the same config, directories and key.
    fn forwarded(&self) -> Result<Vec<String>> {
        if self.gallery.is_some() {
            anyhow::bail!(
                "give the kiosk its gallery in the config file (gallery: ..., with --config \
                 FILE): a PostgreSQL URL holds a password that the autostart entry would show"
            );
        }
        let mut args = Vec::new();
        let paths = [
            ("--config", &self.config),
            ("--model-dir", &self.model_dir),
            ("--data-dir", &self.data_dir),
            ("--key-file", &self.key_file),
        ];
        for (flag, path) in paths {
            if let Some(path) = path {
                args.extend([flag.to_owned(), path.display().to_string()]);
            }
        }
        if let Some(threshold) = self.threshold {
            args.extend(["--threshold".to_owned(), threshold.to_string()]);
        }
        if let Some(value) = self.embedder.and_then(|e| e.to_possible_value()) {
            args.extend(["--embedder".to_owned(), value.get_name().to_owned()]);
        }
        if self.verbose {
            args.push("--verbose".to_owned());
        }
        Ok(args)
    }
}

/// An account, as the system's user database (`getent passwd`) has it.
struct Account {
    name: String,
    uid: u32,
    gid: u32,
    home: PathBuf,
}

fn account(name: &str) -> Result<Account> {
    let output = Command::new("getent")
        .args(["passwd", name])
        .output()
        .context("cannot run getent to look the user up")?;
    let line = String::from_utf8_lossy(&output.stdout);
    let fields: Vec<&str> = line.trim_end().split(':').collect();
    let [found, _, uid, gid, _, home, _] = fields[..] else {
        bail!("no user {name:?} on this machine (make one first: adduser {name})");
    };
    Ok(Account {
        name: found.to_owned(),
        uid: uid
            .parse()
            .context("getent gave a uid that is not a number")?,
        gid: gid
            .parse()
            .context("getent gave a gid that is not a number")?,
        home: PathBuf::from(home),
    })
}

/// Only root may set up another user's session (and the display manager).
fn check_privileges(account: &Account) -> Result<bool> {
    let me = rustix::process::getuid().as_raw();
    if me != 0 && me != account.uid {
        bail!(
            "setting up the kiosk for {} needs root: sudo whoisit kiosk ...",
            account.name
        );
    }
    Ok(me == 0)
}

fn install(global: &Global, args: &InstallArgs) -> Result<()> {
    let account = account(&args.user)?;
    if account.uid == 0 {
        bail!("the kiosk runs as a plain user, never root: make one (adduser kiosk) and name it");
    }
    let root = check_privileges(&account)?;
    let exe = std::env::current_exe().context("cannot tell where this whoisit is")?;
    let mut command = vec![exe.display().to_string()];
    command.extend(global.forwarded()?);
    command.extend(["kiosk".to_owned(), "run".to_owned()]);
    if let Some(source) = &args.source {
        command.extend(["--source".to_owned(), source.clone()]);
    }
    let dir = account.home.join(".config/autostart");
    let entry = dir.join(AUTOSTART);
    for made in make_dirs(&dir)? {
        if root {
            chown(&made, &account)?;
        }
    }
    crate::base::files::write_atomic(&entry, autostart_entry(&command).as_bytes())
        .with_context(|| format!("cannot write {}", entry.display()))?;
    if root {
        chown(&entry, &account)?;
    }
    println!("wrote {} (runs: {})", entry.display(), command.join(" "));

    if args.no_autologin {
        println!("automatic login left as it is (--no-autologin)");
    } else if root && Path::new("/etc/lightdm").is_dir() {
        std::fs::create_dir_all(LIGHTDM_DIR)
            .with_context(|| format!("cannot make {LIGHTDM_DIR}"))?;
        let drop_in = Path::new(LIGHTDM_DIR).join(LIGHTDM_DROP_IN);
        crate::base::files::write_atomic(&drop_in, lightdm_drop_in(&account.name).as_bytes())
            .with_context(|| format!("cannot write {}", drop_in.display()))?;
        println!(
            "wrote {}: LightDM logs {} in at boot",
            drop_in.display(),
            account.name
        );
    } else {
        println!(
            "log {} in automatically at boot for an unattended kiosk: in GDM, \
             AutomaticLoginEnable=true and AutomaticLogin={} under [daemon] in \
             /etc/gdm3/daemon.conf; in SDDM, User={} under [Autologin]. (LightDM is set up by \
             `kiosk install` itself when it is installed and this runs as root.)",
            account.name, account.name, account.name
        );
    }
    println!(
        "the kiosk starts at {}'s next login; `whoisit kiosk remove --user {}` undoes this",
        account.name, account.name
    );
    Ok(())
}

fn remove(user: &str) -> Result<()> {
    let account = account(user)?;
    let root = check_privileges(&account)?;
    let entry = account.home.join(".config/autostart").join(AUTOSTART);
    let mut removed = 0;
    if remove_file(&entry)? {
        println!("removed {}", entry.display());
        removed += 1;
    }
    let drop_in = Path::new(LIGHTDM_DIR).join(LIGHTDM_DROP_IN);
    if root
        && std::fs::read_to_string(&drop_in)
            .is_ok_and(|text| text.contains(&format!("autologin-user={}\n", account.name)))
        && remove_file(&drop_in)?
    {
        println!("removed {} (no automatic login)", drop_in.display());
        removed += 1;
    }
    if removed == 0 {
        println!("no kiosk was set up for {}", account.name);
    }
    Ok(())
}

fn remove_file(path: &Path) -> Result<bool> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).with_context(|| format!("cannot remove {}", path.display())),
    }
}

/// Makes `dir` and its missing parents; returns the ones it made, outermost first.
fn make_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let missing: Vec<PathBuf> = dir
        .ancestors()
        .take_while(|d| !d.exists())
        .map(Path::to_path_buf)
        .collect();
    std::fs::create_dir_all(dir).with_context(|| format!("cannot make {}", dir.display()))?;
    Ok(missing.into_iter().rev().collect())
}

fn chown(path: &Path, account: &Account) -> Result<()> {
    std::os::unix::fs::chown(path, Some(account.uid), Some(account.gid))
        .with_context(|| format!("cannot give {} to {}", path.display(), account.name))
}

/// An XDG autostart entry running `command` (already split into arguments).
fn autostart_entry(command: &[String]) -> String {
    let exec: Vec<String> = command.iter().map(|arg| desktop_quote(arg)).collect();
    format!(
        "[Desktop Entry]\n\
         Type=Application\n\
         Name=whoisit kiosk\n\
         Comment=Face recognition kiosk, started at login (whoisit kiosk remove undoes it)\n\
         Exec={}\n\
         Terminal=false\n\
         NoDisplay=true\n\
         X-GNOME-Autostart-enabled=true\n",
        exec.join(" ")
    )
}

/// Quotes one argument of an `Exec` key as the Desktop Entry Specification asks: plain when it
/// has no reserved character, else in double quotes with `"`, `` ` ``, `$` and `\` escaped;
/// `%` is doubled either way (it starts a field code).
fn desktop_quote(arg: &str) -> String {
    let arg = arg.replace('%', "%%");
    let reserved = |c: char| " \t\n\"'\\><~|&;$*?#()`".contains(c);
    if !arg.is_empty() && !arg.contains(reserved) {
        return arg;
    }
    let mut quoted = String::from("\"");
    for c in arg.chars() {
        if matches!(c, '"' | '`' | '$' | '\\') {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push('"');
    // The entry's value is itself a string with escapes: a backslash is written twice.
    quoted.replace('\\', "\\\\")
}

fn lightdm_drop_in(user: &str) -> String {
    format!(
        "# Written by `whoisit kiosk install`; `whoisit kiosk remove --user {user}` deletes it.\n\
         [Seat:*]\n\
         autologin-user={user}\n\
         autologin-user-timeout=0\n"
    )
}

/// The pause before the next start: a window that ran a while restarts at once (a second),
/// one that keeps failing waits twice as long each time, up to 30 s.
fn next_pause(previous: Duration, ran: Duration) -> Duration {
    const FIRST: Duration = Duration::from_secs(1);
    const LONGEST: Duration = Duration::from_secs(30);
    if ran >= Duration::from_secs(60) {
        FIRST
    } else {
        (previous * 2).clamp(FIRST, LONGEST)
    }
}

fn run(global: &Global, source: Option<&str>) -> Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGHUP,
    ] {
        signal_hook::flag::register(signal, stop.clone())
            .context("cannot set up signal handling")?;
    }
    let exe = std::env::current_exe().context("cannot tell where this whoisit is")?;
    let forwarded = global.forwarded()?;
    let mut pause = Duration::ZERO;
    loop {
        let mut window = Command::new(&exe);
        window.args(&forwarded).arg("--kiosk");
        if let Some(source) = source {
            window.args(["--source", source]);
        }
        let started = Instant::now();
        let child = window
            .spawn()
            .with_context(|| format!("cannot start {}", exe.display()))?;
        tracing::info!(pid = child.id(), "kiosk window started");
        let status = supervise(child, &stop)?;
        if stop.load(Ordering::Relaxed) {
            tracing::info!("session ending: kiosk stopped");
            return Ok(());
        }
        if status.success() {
            tracing::info!("kiosk left with the exit chord; not restarted until the next login");
            return Ok(());
        }
        pause = next_pause(pause, started.elapsed());
        tracing::warn!(
            "kiosk window exited ({status}); starting it again in {} s",
            pause.as_secs()
        );
        let until = Instant::now() + pause;
        while Instant::now() < until {
            if stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Waits for the window; when the session ends first, asks it to close (SIGTERM) and waits.
fn supervise(mut child: Child, stop: &AtomicBool) -> Result<ExitStatus> {
    let mut asked = false;
    loop {
        if let Some(status) = child
            .try_wait()
            .context("cannot wait for the kiosk window")?
        {
            return Ok(status);
        }
        if stop.load(Ordering::Relaxed) && !asked {
            asked = true;
            let pid = i32::try_from(child.id())
                .ok()
                .and_then(rustix::process::Pid::from_raw);
            if let Some(pid) = pid {
                // Already gone is fine: try_wait above collects it.
                let _ignored: rustix::io::Result<()> =
                    rustix::process::kill_process(pid, rustix::process::Signal::TERM);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_arguments_are_quoted_as_the_desktop_entry_spec_asks() {
        assert_eq!(desktop_quote("/usr/bin/whoisit"), "/usr/bin/whoisit");
        assert_eq!(desktop_quote("100%"), "100%%");
        assert_eq!(desktop_quote("my clip.avi"), "\"my clip.avi\"");
        assert_eq!(desktop_quote("a\"b$c"), "\"a\\\\\"b\\\\$c\"");
        assert_eq!(desktop_quote(""), "\"\"");
        let entry = autostart_entry(&["/usr/bin/whoisit".into(), "kiosk".into(), "run".into()]);
        assert!(
            entry.contains("\nExec=/usr/bin/whoisit kiosk run\n"),
            "{entry}"
        );
    }

    #[test]
    fn a_failing_window_waits_longer_each_time_and_a_long_run_starts_afresh() {
        let quick = Duration::from_secs(2);
        let mut pause = Duration::ZERO;
        let pauses: Vec<u64> = (0..7)
            .map(|_| {
                pause = next_pause(pause, quick);
                pause.as_secs()
            })
            .collect();
        assert_eq!(pauses, [1, 2, 4, 8, 16, 30, 30]);
        assert_eq!(
            next_pause(Duration::from_secs(30), Duration::from_secs(3600)),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn the_lightdm_drop_in_names_the_user_remove_looks_for() {
        assert!(lightdm_drop_in("ada").contains("autologin-user=ada\n"));
    }
}
