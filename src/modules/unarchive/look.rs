//! `unarchive`'s look on the host: `creates`, the download of a URL, the archive's handler
//! (Ansible's order: `unzip`+`zipinfo`, `unzip -Z`, GNU tar with gzip, GNU tar), and what the
//! handler's comparison needs: for zip, what `zip::check` compares; for tar, the members,
//! `tar --diff` and the members' attributes.

use super::{From, UnArgs};
use crate::modules::contract::Script;

/// The look; `downloaded`: the controller has sent the URL's answer (`$dl_*`, `"$D/upload"`).
pub(super) fn look(a: &UnArgs, downloaded: bool) -> Script {
    let mut s = Script::new()
        .set("dest", &a.dest)
        .set("creates", a.creates.as_deref().unwrap_or(""))
        .raw("if [ -n \"$creates\" ] && [ -e \"$creates\" ]; then echo created; else\ndl=ok\n");
    if a.from == From::Url {
        s = s.then(if downloaded {
            from_controller()
        } else {
            download(a)
        });
    }
    s.raw("case $dest in /*) ;; *) echo \"cwd $(pwd)\";; esac\nif [ \"$dl\" = ok ]; then\n")
        .then(a.src_var())
        .raw("[ -d \"$dest\" ] || echo nodest\n[ -e \"$src\" ] || echo nosrc\n[ -r \"$src\" ] || echo unreadable\n[ -s \"$src\" ] || echo empty\n")
        .then(handler(a))
        .raw("if [ -d \"$dest\" ]; then\ncase $h in\nzip|zipz)\n")
        .then(zip(a))
        .raw(";;\nz|tar)\n")
        .then(tar(a))
        .raw(";;\nesac\nfi\nfi\nfi\n")
}

/// The host's `curl` (else `wget`) downloads the URL into `"$D/upload"`; `notool` when it has
/// neither, `dlfail` with Ansible's message when the download fails.
fn download(a: &UnArgs) -> Script {
    crate::modules::contract::host_fetch("\"$D/upload\"", &a.src, !a.validate_certs)
}

/// The controller's answer (`Observe::download`), read as `download`'s.
fn from_controller() -> Script {
    Script::new()
        .raw("if [ \"$dl_rc\" != 0 ]; then dl=fail; echo \"dlfail Request failed: $dl_err\"\n")
        .raw("elif [ \"$dl_status\" != 200 ]; then dl=fail; echo \"dlfail HTTP Error $dl_status: $dl_reason\"; fi\n")
}

/// The first handler that reads the archive (`handler NAME`), and each one's reason not to
/// (`why ...`, Ansible's texts).
fn handler(a: &UnArgs) -> Script {
    Script::new()
        .raw("h=; z=; zi=; m=\ncommand -v unzip >/dev/null 2>&1 || m=\"'unzip'\"\ncommand -v zipinfo >/dev/null 2>&1 || m=\"${m:+$m or }'zipinfo'\"\n")
        .raw("if [ -z \"$m\" ]; then\nif unzip -l \"$src\" >/dev/null 2>&1; then h=zip; zi=zipinfo; else echo \"why Command \\\"$(command -v unzip)\\\" could not handle archive: $(unzip -l \"$src\" 2>&1 | head -c 300 | tr '\\n' ' ')\"; fi\n")
        .raw("else echo \"why Unable to find required $m binary in the path.\"; fi\n")
        .raw("if [ -z \"$h\" ] && [ -n \"$m\" ]; then\nif ! command -v unzip >/dev/null 2>&1; then echo \"why Unable to find required 'unzip' or 'unzip' binary in the path.\"\n")
        .raw("elif unzip -l \"$src\" >/dev/null 2>&1 && unzip -Z 2>&1 | grep -qi zipinfo; then h=zipz; zi='unzip -Z'; fi\nfi\n")
        .raw("if [ -z \"$h\" ]; then\ntb=$(command -v gtar || command -v tar)\n")
        .then(tar_words(a))
        .raw("for z in -z ''; do\nif out=$(LC_ALL=C.UTF-8 \"$tb\" --list -C \"$dest\" $z \"$@\" 2>\"$D/tar.e\"); then\n")
        .raw("if [ -n \"$out\" ]; then h=${z:-tar}; h=${h#-}; break; fi\necho \"why Command \\\"$tb\\\" found no files in archive. Empty archive files are not supported.\"\n")
        .raw("else echo \"why Command \\\"$tb\\\" could not handle archive: Unable to list files in the archive: $(head -c 300 \"$D/tar.e\" | tr '\\n' ' ')\"; fi\ndone; rm -f \"$D/tar.e\"; [ -n \"$h\" ] || z=\nfi\n")
        .raw("echo \"handler $h\"\ncase $h in zip|zipz) echo \"bin $(command -v unzip)\";; z|tar) echo \"bin $tb\";; esac\n")
}

/// For tar: the members (`f`), `tar --diff` (`o`, `e`, `rc`) and the existing members'
/// attributes (`s`).
fn tar(a: &UnArgs) -> Script {
    tar_words(a)
        .raw("tar -t $z --quoting-style=literal \"$@\" 2>/dev/null | sed 's/^/f /'\n")
        .raw("e=$(mktemp); { LC_ALL=C tar --diff -C \"$dest\" $z \"$@\" 2>\"$e\"; echo \"rc $?\" >\"$e.rc\"; } | sed 's/^/o /'; cat \"$e.rc\"; sed 's/^/e /' \"$e\"; rm -f \"$e\" \"$e.rc\"\n")
        .raw("(cd \"$dest\" && tar -t $z --quoting-style=literal \"$@\" 2>/dev/null | while IFS= read -r f; do [ -e \"$f\" ] && stat -c 's %a %U %G|%n' -- \"$f\"\n")
        .raw("case $f in */*) t=${f%%/*}; [ -d \"$t\" ] && stat -c 's %a %U %G|%n/' -- \"$t\";; esac; done | awk '!seen[$0]++')\n")
}

/// `set --` tar's options, `-f "$src"` and the members to take.
fn tar_words(a: &UnArgs) -> Script {
    let mut s = Script::new().raw("set --");
    for o in &a.tar_opts() {
        s = s.arg(o);
    }
    s = s.raw("\nset -- \"$@\" -f \"$src\"");
    for i in &a.include {
        s = s.arg(i);
    }
    s.raw("\n")
}

/// The look's zip part (`$src`, `$dest` and `$zi`, the `zipinfo` command, set): the
/// member names (`f`), `zipinfo -T -s` (`z`, its status `zrc`), the archive's CRCs (`v`),
/// each existing member's state under `dest` (`zs`), and the shell's identity.
fn zip(a: &UnArgs) -> Script {
    let mut s = Script::new()
        .raw("export LC_ALL=C.UTF-8\nunzip -Z1 \"$src\" 2>/dev/null | sed 's/^/f /'\n")
        .raw("set -- -T -s \"$src\"");
    if !a.exclude.is_empty() {
        s = s.raw(" -x");
        for e in &a.exclude {
            s = s.arg(e);
        }
    }
    for i in &a.include {
        s = s.arg(i);
    }
    s.raw("\nout=$($zi \"$@\" 2>/dev/null); echo \"zrc $?\"; printf '%s\\n' \"$out\" | sed 's/^/z /'\n")
        .raw("unzip -v \"$src\" 2>/dev/null | sed 's/^/v /'\n")
        .raw("echo \"me $(id -u) $(id -un) $(id -gn)\"; echo \"groups $(id -Gn)\"; echo \"umask $(umask)\"\n")
        .raw("(cd \"$dest\" && unzip -Z1 \"$src\" 2>/dev/null | while IFS= read -r f; do\n")
        .raw("if [ -e \"$f\" ] || [ -L \"$f\" ]; then c=\n")
        .raw("if [ -f \"$f\" ] && ! [ -L \"$f\" ]; then c=$(gzip -c <\"$f\" | tail -c 8 | od -An -tx1 -N4 | tr -d ' \\n'); fi\n")
        .raw("printf 'zs %s|%s|%s\\n' \"$(stat -c '%F|%a|%s|%y|%U|%G|%u|%g' -- \"$f\")\" \"$c\" \"$f\"\nfi\ndone)\n")
}
