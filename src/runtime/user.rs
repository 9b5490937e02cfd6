//! `user` and `group_add` resolved through the image's `/etc/passwd` and
//! `/etc/group`, with runc's rules (which Docker uses):
//! - `user` is `name|uid[:group|gid]`; empty means root;
//! - a name must exist in passwd; a number need not (gid 0, home `/`);
//! - the primary gid is the explicit group, else the passwd entry's;
//! - without an explicit group, the supplementary groups are the groups
//!   that list the user by name; `group_add` entries are appended.
//!
//! The files are the image's, read from the host: only through
//! [`crate::store::read_in_root`], which resolves them inside the
//! container's root (an absolute symlink to `/etc/shadow` is the
//! container's), refuses FIFOs and devices and caps the size.

use std::os::fd::BorrowedFd;
use std::path::Path;

use super::error::{Result, RuntimeError};

/// `name` (`etc/passwd`, `etc/group`) of the root filesystem at `root`;
/// `None` when the image has no such file.
pub fn read_file(root: &Path, name: &str) -> Result<Option<String>> {
    crate::store::read_text_in_root(root, name).map_err(RuntimeError::UserFile)
}

/// [`read_file`] under an open root directory (a running container's,
/// `/proc/<pid>/root`); `shown` names it in errors.
pub fn read_file_at(root: BorrowedFd<'_>, shown: &Path, name: &str) -> Result<Option<String>> {
    let data = crate::store::read_in_root(root, shown, name).map_err(RuntimeError::UserFile)?;
    Ok(data.map(|b| String::from_utf8_lossy(&b).into_owned()))
}

/// The identity the container's process runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecUser {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub home: String,
}

struct PasswdEntry<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
    home: &'a str,
}

struct GroupEntry<'a> {
    name: &'a str,
    gid: u32,
    members: Vec<&'a str>,
}

fn passwd_entries(text: &str) -> impl Iterator<Item = PasswdEntry<'_>> {
    text.lines().filter_map(|line| {
        let line = line.trim_end();
        if line.is_empty() || line.starts_with('#') {
            return None;
        }
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 6 {
            return None;
        }
        Some(PasswdEntry {
            name: f[0],
            uid: f[2].parse().ok()?,
            gid: f[3].parse().ok()?,
            home: f[5],
        })
    })
}

fn group_entries(text: &str) -> impl Iterator<Item = GroupEntry<'_>> {
    text.lines().filter_map(|line| {
        let line = line.trim_end();
        if line.is_empty() || line.starts_with('#') {
            return None;
        }
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 3 {
            return None;
        }
        Some(GroupEntry {
            name: f[0],
            gid: f[2].parse().ok()?,
            members: f
                .get(3)
                .map(|m| m.split(',').filter(|s| !s.is_empty()).collect())
                .unwrap_or_default(),
        })
    })
}

fn lookup_group(group: &str, group_file: &str) -> Result<u32> {
    let numeric = group.parse::<u32>().ok();
    let found = group_entries(group_file)
        .find(|g| g.name == group || Some(g.gid) == numeric)
        .map(|g| g.gid);
    match (found, numeric) {
        (Some(gid), _) | (None, Some(gid)) => Ok(gid),
        (None, None) => Err(RuntimeError::UnknownGroup {
            group: group.to_string(),
        }),
    }
}

/// Resolves `user` (`None` or empty: root) and `group_add` against the
/// image's files (`None` when the image has no such file).
pub fn resolve(
    user: Option<&str>,
    group_add: &[String],
    passwd: Option<&str>,
    group: Option<&str>,
) -> Result<ExecUser> {
    let passwd = passwd.unwrap_or("");
    let group_file = group.unwrap_or("");
    let spec = user.unwrap_or("").trim();
    let (user_part, group_part) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let user_part = if user_part.is_empty() { "0" } else { user_part };
    let numeric_uid = user_part.parse::<u32>().ok();

    let entry = passwd_entries(passwd).find(|e| e.name == user_part || Some(e.uid) == numeric_uid);
    let (uid, mut gid, home, name) = match (&entry, numeric_uid) {
        (Some(e), _) => (e.uid, e.gid, e.home.to_string(), Some(e.name)),
        (None, Some(uid)) => (uid, 0, "/".to_string(), None),
        (None, None) => {
            return Err(RuntimeError::UnknownUser {
                user: user_part.to_string(),
            })
        }
    };

    let mut additional_gids = Vec::new();
    match group_part.filter(|g| !g.is_empty()) {
        Some(g) => gid = lookup_group(g, group_file)?,
        None => {
            if let Some(name) = name {
                additional_gids.extend(
                    group_entries(group_file)
                        .filter(|g| g.members.contains(&name))
                        .map(|g| g.gid),
                );
            }
        }
    }
    for g in group_add {
        let extra = lookup_group(g, group_file)?;
        if !additional_gids.contains(&extra) {
            additional_gids.push(extra);
        }
    }
    Ok(ExecUser {
        uid,
        gid,
        additional_gids,
        home: if home.is_empty() { "/".to_string() } else { home },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
        daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
        # comment\n\
        www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n\
        app:x:1000:1000::/home/app:/bin/sh\n";
    const GROUP: &str = "root:x:0:\n\
        daemon:x:1:\n\
        www-data:x:33:\n\
        audio:x:29:app\n\
        video:x:44:app,www-data\n\
        app:x:1000:\n";

    fn r(user: Option<&str>, add: &[&str]) -> Result<ExecUser> {
        let add: Vec<String> = add.iter().map(|s| s.to_string()).collect();
        resolve(user, &add, Some(PASSWD), Some(GROUP))
    }

    #[test]
    fn default_is_root_with_its_home() {
        let u = r(None, &[]).unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (0, 0, "/root"));
        assert_eq!(r(Some(""), &[]).unwrap(), u);
    }

    #[test]
    fn name_resolves_uid_gid_home_and_member_groups() {
        let u = r(Some("app"), &[]).unwrap();
        assert_eq!(u.uid, 1000);
        assert_eq!(u.gid, 1000);
        assert_eq!(u.home, "/home/app");
        assert_eq!(u.additional_gids, vec![29, 44]);
    }

    #[test]
    fn explicit_group_replaces_primary_and_member_groups() {
        let u = r(Some("app:video"), &[]).unwrap();
        assert_eq!((u.uid, u.gid), (1000, 44));
        assert!(u.additional_gids.is_empty());
        let u = r(Some("www-data:5000"), &[]).unwrap();
        assert_eq!((u.uid, u.gid), (33, 5000));
    }

    #[test]
    fn unknown_numeric_ids_are_used_as_is() {
        let u = r(Some("4242"), &[]).unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (4242, 0, "/"));
        let u = resolve(Some("7:8"), &[], None, None).unwrap();
        assert_eq!((u.uid, u.gid), (7, 8));
    }

    #[test]
    fn numeric_uid_of_known_user_takes_its_entry() {
        let u = r(Some("33"), &[]).unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (33, 33, "/var/www"));
    }

    #[test]
    fn unknown_names_are_errors() {
        assert!(matches!(r(Some("nobody"), &[]), Err(RuntimeError::UnknownUser { .. })));
        assert!(matches!(
            r(Some("app:wheel"), &[]),
            Err(RuntimeError::UnknownGroup { .. })
        ));
        assert!(matches!(r(None, &["wheel"]), Err(RuntimeError::UnknownGroup { .. })));
    }

    #[test]
    fn group_add_appends_without_duplicates() {
        let u = r(Some("app"), &["audio", "www-data", "123"]).unwrap();
        assert_eq!(u.additional_gids, vec![29, 44, 33, 123]);
    }
}
