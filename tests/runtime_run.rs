//! Root integration tests: containers run to completion with the embedded
//! runtime (libcontainer) on a busybox image made offline.

mod runtime_support;

use runtime_support::env;

#[test]
fn pid1_hostname_and_exit_code() {
    let Some(mut t) = env("pid1") else { return };
    let spec = t.spec("pid1", "echo pid=$$; hostname; cat /etc/hostname; exit 3");
    let (status, out) = t.run(&spec);
    assert_eq!(status.code, 3, "output: {out}");
    assert!(!status.oom_killed);
    assert!(out.contains("pid=1\n"), "output: {out}");
    assert!(out.contains("testhost\ntesthost\n"), "output: {out}");
}
