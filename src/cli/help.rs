//! The long texts of `--help`, which also become sections of the man pages (`archvsync
//! manpages`): a line without indent ending in `:` starts a section, a line indented by two
//! spaces is an entry (its tag, two spaces, its text), deeper indented lines continue it.

pub(super) const TOP_HELP: &str = "\
Invoked as:
  ftpsync, runmirrors, ftpsync-cron, rsync-ssl-tunnel
       Through a link of that name (argv[0]) the binary is that command, with the original
       script's argument syntax: see ftpsync(1), runmirrors(1), ftpsync-cron(1),
       rsync-ssl-tunnel(1).
  archvsync COMMAND ...
       The same commands as subcommands, and the tools only archvsync has.

Files:
  ftpsync.conf, ftpsync-ARCHIVE.conf, runmirrors.conf, runmirrors.mirror
       Searched in $BASEDIR/etc (in the classic layout only), ~/.config/ftpsync,
       /etc/ftpsync; the first found wins. BASEDIR is the directory above the one holding
       the program as invoked, links not followed (~/bin/ftpsync gives ~). The files are
       sourced by bash, as the original did; ftpsync.toml (typed TOML) is read too, .conf
       wins within one directory.
  $BASEDIR/log, $BASEDIR/locks
       Logs and locks in the classic layout (when $BASEDIR/etc holds an ftpsync* or
       runmirrors* config, or BASEDIR is set); otherwise ~/.local/log/ftpsync and
       ~/.local/lock/ftpsync.

Environment:
  BASEDIR
       Overrides the base directory of the classic layout.
  SSH_ORIGINAL_COMMAND
       Set by sshd for a forced command: the upstream's sync: words (see ftpsync(1)).
  ARCHVSYNC_LOG
       Internal tracing on stderr: error, warn (the default), info, debug, trace.
  ARCHVSYNC_PROGRESS
       ftpsync's rsync progress line on stderr: 1 always, 0 never (default: when stderr
       is a terminal).

Exit status:
  64   Bad usage. Otherwise the command's own status, see its page.
";

pub(super) const FTPSYNC_ABOUT: &str = "\
Sync this mirror from its upstream: stage 1 pulls everything but the index files, stage 2
the rest, deleting what is gone, under the lock TO/Archive-Update-in-Progress-MIRRORNAME.
Then the trace file is written, hooks run, and with HUB=true the downstreams are pushed.

Run it from cron, by hand, or as the forced command of the key the upstream pushes with;
the upstream's words then arrive in SSH_ORIGINAL_COMMAND. Without sync: words it does a
full sync (sync:all) of ftpsync.conf.";

pub(super) const FTPSYNC_HELP: &str = "\
Exit status:
  0    The sync is done.
  1    Another run holds the lock (the push is not lost: that run sees
       Archive-Update-Required and syncs again), ARCH_INCLUDE and ARCH_EXCLUDE both set,
       an unknown RSYNC_TRANSPORT, neither RSYNC_HOST nor RSYNC_SOURCE set, a TO that
       another archive's config uses too, or an Archive-Update-Required file that cannot
       be created or removed.
  3    Stage 1 failed.
  4    Stage 2 failed.
  64   Bad usage.
  78   No config file for the archive, or one that cannot be loaded.
  128+N
       Stopped by signal N (rsync is stopped, the log written and mailed, the lock removed).
A failing hook (HOOK1 to HOOK5) ends the run with the hook's exit status, 124 for one
killed after HOOKTIMEOUT seconds. rsync's 0 and 24 are success; 23 and 30 are forgiven only
when another push is already pending. A failed stage's log line, error mail and stderr end
with the last lines of rsync's error output.

Files:
  ftpsync.conf, ftpsync-ARCHIVE.conf
       The configuration (sync:archive:ARCHIVE selects the second), searched in
       $BASEDIR/etc (in the classic layout only), ~/.config/ftpsync, /etc/ftpsync; the
       first found wins. BASEDIR is the directory above the one holding the program as
       invoked (~/bin/ftpsync gives ~). Sourced by bash; ftpsync.toml is read too.
  LOGDIR/ftpsync.log, LOGDIR/rsync-ftpsync.log, LOGDIR/rsync-ftpsync.error
       The run's log, rsync's log (--log-file) and rsync's output; -ARCHIVE is added to the
       names for an archive. Rotated at the end of each run, LOGROTATE copies kept.
  LOGDIR/ftpsync.run.lock
       Held for the whole run, exit path included: the next run starts after it.
  TO/Archive-Update-in-Progress-MIRRORNAME
       The lock file, while the tree changes; downstreams pulling from us see it as
       \"mid-update\". Removed before the HUB push and before the exit path.
  TO/Archive-Update-Required-MIRRORNAME
       A push arrived; a running sync goes round again.
  TO/project/trace/MIRRORNAME
       The trace file, written after stage 2 (MIRRORNAME-stage1 after stage 1 alone).

Environment:
  SSH_ORIGINAL_COMMAND
       Set by sshd for a forced command (command=\"~/bin/ftpsync\" in authorized_keys):
       its words are read first, then the command line's, which win where they conflict.
       Unknown words are logged and ignored, never run. The trigger defaults to ssh.
  SSH_CONNECTION
       The address that pushed, logged as \"We got pushed from ADDRESS\".
  BASEDIR
       Overrides the base directory of the classic layout.
  ARCHVSYNC_PROGRESS
       A progress line (files, bytes, time) on stderr while rsync runs: 1 always, 0 never;
       by default when stderr is a terminal, so never under cron or ssh.
";

pub(super) const RUNMIRRORS_ABOUT: &str = "\
Push (trigger) the downstream mirrors listed in runmirrors.mirror: each one gets an ssh
login with KEYFILE, whose authorized_keys entry on the downstream forces ftpsync, and the
sync: words for its type. Staged and mhop mirrors get stage 2 once all of them finished
stage 1 (or PUSHDELAY passed). ftpsync runs this itself after a sync when HUB=true.

runmirrors NAME is runmirrors -a NAME.";

pub(super) const RUNMIRRORS_HELP: &str = "\
Exit status:
  0    Done. Failed pushes are logged and mailed; they do not change the exit status.
  5    KEYFILE does not exist.
  64   Bad usage.
  78   No config file, or one that cannot be loaded.

Files:
  runmirrors.conf, runmirrors-NAME.conf
       The configuration, searched like ftpsync's: $BASEDIR/etc (classic layout only),
       ~/.config/ftpsync, /etc/ftpsync.
  runmirrors.mirror, runmirrors-NAME.mirror
       The downstreams, one a line: TYPE SHORTNAME HOSTNAME USER [PROTO [KEYFILE]], TYPE
       being all, staged or mhop; DELAY lines. Missing: there is nothing to push, which
       is warned about (log and stderr; the exit status stays 0).
  ~/.ssh/pushmirror
       The default KEYFILE, the key the downstreams' authorized_keys lock to ftpsync.
  LOGDIR/runmirrors.log, LOGDIR/SHORTNAME.log
       The run's log, and each downstream's ssh output and outcome.
";

pub(super) const CRON_ABOUT: &str = "\
For mirrors nobody pushes: run it from cron every few minutes. Unless a sync is running, it
fetches the upstream's archive serial (its trace file over HTTP(S), or project/trace/master
with rsync when CHECK_UPSTREAM=rsync) and runs ftpsync -T cron sync:archive:ARCHIVE only
when that serial differs from the one in our trace file, or we have none.";

pub(super) const CRON_HELP: &str = "\
Exit status:
  0    Nothing to do (same serial, or a sync is running), or the sync it ran succeeded.
  1    The upstream's serial could not be fetched or read (logged and mailed).
  78   No config file for the archive, or one that cannot be loaded.
Otherwise the exit status of the ftpsync run it started (see ftpsync(1)).

Files:
  ftpsync.conf, ftpsync-ARCHIVE.conf
       The archive's ftpsync configuration (CHECK_UPSTREAM, UPSTREAM_TRACE_URL,
       CHECK_TIMEOUT are read here), searched like ftpsync's.
  LOGDIR/ftpsync-cron.log
       Its own log (ftpsync-cron-ARCHIVE.log for an archive).
";

pub(super) const TUNNEL_ABOUT: &str = "\
rsync's remote shell for RSYNC_TRANSPORT=ssl: ftpsync runs
rsync -e \"archvsync rsync-ssl-tunnel\" HOST::MODULE, and the tunnel opens TLS to
HOST:RSYNC_SSL_PORT, verifies the certificate against RSYNC_SSL_CAPATH and the host name
(unless the method is stunnel-old), and relays stdin/stdout. No stunnel or socat needed.";

pub(super) const TUNNEL_HELP: &str = "\
Exit status:
  0    The connection ended normally.
  1    Bad arguments, no usable CA certificates, or the TLS connection failed.

Environment:
  RSYNC_SSL_PORT
       The TLS port of the upstream (default 1873); -p wins.
  RSYNC_SSL_CAPATH
       A hashed CA directory (as c_rehash makes it) or a CA file (default
       /etc/ssl/certs); -C wins.
  RSYNC_SSL_METHOD
       stunnel (the default), stunnel-old (no host name check) or socat; -m wins. All of
       them use the built-in TLS client.
";

pub(super) const CHECK_MIRROR_ABOUT: &str = "\
Fetch a mirror's trace files over HTTP(S), project/trace/master and project/trace/SITE, and
judge them by the rules Debian's monitors apply. mirror-status: both traces' first line is a
`date -u` date, the mirror's age (the older trace) scores +5 up to 4 h, +1 up to 12 h, 0 up
to 24 h, -5 up to 48 h, -30 beyond (stale), and the age of Archive-Update-in-Progress-SITE
and Archive-Update-Required-SITE. http-redirector: every trace line is `Key: value` within
1024 bytes, the site trace is not older than the master trace, `Used ftpsync version:` is
digits only, Architectures lists source, and a HEAD of dists/SUITE/Release with
If-Unmodified-Since set to the master trace's date does not answer 412 (new Release files
before the master trace: no two-stage sync). Each rule says ok, warning or error and why;
a rule that cannot be tested says untested and does not change the verdict.

SUITE is --suite when given (a --suite the mirror does not carry is a warning); else sid, as the redirector asks, and on a mirror without sid
the first it carries of unstable, testing, stable, oldstable, their -security suites, then
forky, trixie, bookworm and theirs (one HEAD each, 404 meaning not carried; the search
stops after --timeout). A mirror that carries none of them is untested on this rule.

SITE is found in the listing of project/trace/ (the host name, else the last line of
_hierarchy, else the only trace besides master) unless --site names it. Without a URL, the
mirror's own MIRROR_URL is checked, with MIRRORNAME as the site.";

pub(super) const CHECK_MIRROR_HELP: &str = "\
Exit status:
  0    Every rule is ok (or untested).
  1    A rule warns, none fails.
  2    A rule fails: the mirror cannot be reached, a trace is missing or unreadable, it is
       stale (older than 48 h), or the monitors would reject or disable it.
  3    Nothing to check: no URL and no MIRROR_URL, or no usable config.
  64   Bad usage (a URL that is not http:// or https://).

Files:
  ftpsync.conf, ftpsync-ARCHIVE.conf
       Without a URL: MIRROR_URL, MIRRORNAME and RSYNC_SSL_CAPATH are read from it.
";

pub(super) const DOWNSTREAM_ABOUT: &str = "\
Set up the downstream mirrors this mirror pushes, as the push server documentation
describes it, in one command each. `add NAME HOST` makes the push key (KEYFILE, ed25519)
if there is none, gives NAME a password in the rsync daemon's secrets file
(RSYNCD_SECRETS), sets HUB=true in ftpsync.conf if it is not, appends the line to
runmirrors.mirror, and prints what the downstream's operator must do: the authorized_keys
line locking the key to their ftpsync, and the RSYNC_* lines for their ftpsync.conf.
Every file is replaced atomically; a step that fails takes the earlier ones back.";

pub(super) const DOWNSTREAM_HELP: &str = "\
Exit status:
  0    Done (test: nothing found wrong).
  1    Refused (a downstream of that name exists, no such downstream) or failed (a file
       that cannot be written: nothing was changed); test: a check failed.
  64   Bad usage (a name that is not one plain word, ssh options that do not start with -).
  78   A config that does not load, or (add) no ftpsync config.

Files:
  runmirrors.conf, runmirrors-ARCHIVE.conf
       Created by add when missing, beside ftpsync.conf, with every key at its default.
  runmirrors.mirror, runmirrors-ARCHIVE.mirror
       One line per downstream: TYPE NAME HOST USER [SSH OPTIONS].
  runmirrors.secrets (RSYNCD_SECRETS)
       NAME:password for each downstream, mode 600; rsyncd.conf's secrets file.
  ~/.ssh/pushmirror (KEYFILE)
       The push key, mode 600, and its .pub.
  LOCKDIR/runmirrors.downstreams.lock
       One add or remove at a time.
";

pub(super) const RSYNCD_CONFIG_ABOUT: &str = "\
Print an rsyncd.conf serving this mirror's TO to the downstreams: a module (RSYNCD_MODULE,
default debian) with auth users and the secrets file `downstream add` fills. The same file
works for rsync started as root (inetd, a systemd socket) and as this account on a port
above 1023: it sets no uid or gid, keeps the lock file of max connections in LOCKDIR, and
lets a root rsync read a secrets file this account owns. How to start rsync each way is in
its comments.";

pub(super) const RSYNCD_CONFIG_HELP: &str = "\
Exit status:
  0    Printed.
  1    LOCKDIR cannot be created.
  78   No ftpsync config (its TO is what rsync serves), or a config that does not load.
";
