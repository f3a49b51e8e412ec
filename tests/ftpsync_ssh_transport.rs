//! RSYNC_TRANSPORT=ssh: the rsync daemon reached over ssh (`-e "ssh RSYNC_SSH_OPTS"`),
//! through a real sshd whose key is locked to `rsync --server --daemon`.

mod common;
use common::sshd::{ssh_keygen, Sshd, SSH_OPTS};
use common::*;

#[test]
fn sync_over_ssh_to_an_rsync_daemon() {
    let up = Upstream::v1();
    let m = Mirror::new();
    let key = ssh_keygen(&m.dir.join("keys/pull"));
    // The daemon side of rsync-over-ssh: a config with the module, run by sshd per session.
    let conf = m.dir.join("rsyncd-over-ssh.conf");
    std::fs::write(
        &conf,
        format!(
            "use chroot = false\n[debian]\npath = {}\nread only = true\n",
            up.root.display()
        ),
    )
    .unwrap();
    let sshd = Sshd::start(&format!(
        "command=\"rsync --server --daemon --config={} .\",restrict,environment=\"SHLVL=1\" {}",
        conf.display(),
        key.public()
    ));
    let ssh_opts = format!(
        "-p {} -i {} -o BatchMode=yes {SSH_OPTS}",
        sshd.port,
        key.path.display()
    );
    m.write_conf(
        &m.conf("unused")
            .unset("RSYNC_SOURCE")
            .set("RSYNC_HOST", "127.0.0.1")
            .set("RSYNC_USER", "root")
            .set("RSYNC_PATH", "debian")
            .set("RSYNC_TRANSPORT", "ssh")
            .set("RSYNC_SSH_OPTS", ssh_opts.clone()),
    );
    let out = m.run(&[]);
    m.expect_code(&out, 0);
    assert_same_tree(&up.root, &m.to, &m.name);
    assert_eq!(m.trace().get("Rsync-Transport"), Some("ssh"));
    let log = m.log();
    assert!(
        log.contains(&format!("-e 'ssh {ssh_opts}' ")) && log.contains(" root@127.0.0.1::debian "),
        "{log}"
    );
    // Both stages went through sshd.
    assert!(
        count_lines(&sshd.log(), "Accepted publickey") >= 2,
        "{}",
        sshd.log()
    );

    // Without the key the transport fails, and ftpsync says so with exit 3.
    m.write_conf(
        &m.conf("unused")
            .unset("RSYNC_SOURCE")
            .set("RSYNC_USER", "root")
            .set("RSYNC_TRANSPORT", "ssh")
            .set(
                "RSYNC_SSH_OPTS",
                format!(
                    "-p {} -o BatchMode=yes {SSH_OPTS} -o IdentitiesOnly=yes -i /nonexistent",
                    sshd.port
                ),
            ),
    );
    let out = m.run(&[]);
    m.expect_code(&out, 3);
}
