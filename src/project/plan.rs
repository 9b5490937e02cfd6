//! What `up` must do, derived from what is wanted and what exists. Pure,
//! so every case (scale, recreate, orphans) is unit-tested without an
//! engine.

use std::collections::{BTreeMap, BTreeSet};

/// A service as the project wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub replicas: u32,
    pub config_hash: String,
    pub image_id: String,
}

/// A container as it exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub id: String,
    pub service: String,
    pub number: u32,
    pub config_hash: String,
    pub image_id: String,
    pub running: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flags {
    pub force_recreate: bool,
    pub no_recreate: bool,
}

/// One step for one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Up to date; start it if it is not running.
    Keep {
        id: String,
        number: u32,
        running: bool,
    },
    /// Out of date: remove, then create anew with the same number.
    Recreate {
        id: String,
        number: u32,
    },
    Create {
        number: u32,
    },
    /// Beyond the wanted scale.
    Remove {
        id: String,
    },
}

/// Per service, the actions in order (removals first, then by number).
pub fn plan(wanted: &BTreeMap<String, Wanted>, found: &[Found], flags: Flags) -> BTreeMap<String, Vec<Action>> {
    let mut out = BTreeMap::new();
    for (service, w) in wanted {
        let mut mine: Vec<&Found> = found.iter().filter(|f| &f.service == service).collect();
        mine.sort_by_key(|f| f.number);
        let mut actions = Vec::new();
        // Keep the lowest numbers (Compose's choice when scaling down).
        let keep: Vec<&Found> = mine.iter().take(w.replicas as usize).copied().collect();
        for extra in mine.iter().skip(w.replicas as usize) {
            actions.push(Action::Remove { id: extra.id.clone() });
        }
        let used: BTreeSet<u32> = keep.iter().map(|f| f.number).collect();
        for f in &keep {
            let stale = f.config_hash != w.config_hash || f.image_id != w.image_id;
            if flags.force_recreate || (stale && !flags.no_recreate) {
                actions.push(Action::Recreate {
                    id: f.id.clone(),
                    number: f.number,
                });
            } else {
                actions.push(Action::Keep {
                    id: f.id.clone(),
                    number: f.number,
                    running: f.running,
                });
            }
        }
        let mut n = 1;
        for _ in keep.len()..w.replicas as usize {
            while used.contains(&n) {
                n += 1;
            }
            actions.push(Action::Create { number: n });
            n += 1;
        }
        out.insert(service.clone(), actions);
    }
    out
}

/// Containers of services the project no longer has.
pub fn orphans<'a>(services: &BTreeSet<String>, found: &'a [Found]) -> Vec<&'a Found> {
    found.iter().filter(|f| !services.contains(&f.service)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(replicas: u32, hash: &str) -> Wanted {
        Wanted {
            replicas,
            config_hash: hash.into(),
            image_id: "img".into(),
        }
    }

    fn f(service: &str, number: u32, hash: &str, running: bool) -> Found {
        Found {
            id: format!("p-{service}-{number}"),
            service: service.into(),
            number,
            config_hash: hash.into(),
            image_id: "img".into(),
            running,
        }
    }

    #[test]
    fn an_empty_project_creates_every_replica() {
        let wanted = BTreeMap::from([("web".to_string(), w(2, "h"))]);
        let p = plan(&wanted, &[], Flags::default());
        assert_eq!(
            p["web"],
            vec![Action::Create { number: 1 }, Action::Create { number: 2 }]
        );
    }

    #[test]
    fn unchanged_containers_are_kept_and_changed_ones_recreated() {
        let wanted = BTreeMap::from([("web".to_string(), w(1, "h")), ("db".to_string(), w(1, "new"))]);
        let found = [f("web", 1, "h", true), f("db", 1, "old", true)];
        let p = plan(&wanted, &found, Flags::default());
        assert_eq!(
            p["web"],
            vec![Action::Keep {
                id: "p-web-1".into(),
                number: 1,
                running: true
            }]
        );
        assert_eq!(
            p["db"],
            vec![Action::Recreate {
                id: "p-db-1".into(),
                number: 1
            }]
        );
        let p = plan(
            &wanted,
            &found,
            Flags {
                no_recreate: true,
                ..Flags::default()
            },
        );
        assert!(matches!(p["db"][0], Action::Keep { .. }));
        let p = plan(
            &wanted,
            &found,
            Flags {
                force_recreate: true,
                ..Flags::default()
            },
        );
        assert!(matches!(p["web"][0], Action::Recreate { .. }));
    }

    #[test]
    fn a_new_image_recreates() {
        let wanted = BTreeMap::from([("web".to_string(), w(1, "h"))]);
        let mut old = f("web", 1, "h", true);
        old.image_id = "older".into();
        assert!(matches!(
            plan(&wanted, &[old], Flags::default())["web"][0],
            Action::Recreate { .. }
        ));
    }

    #[test]
    fn scaling_down_removes_the_highest_numbers_and_up_fills_gaps() {
        let wanted = BTreeMap::from([("web".to_string(), w(1, "h"))]);
        let found = [f("web", 1, "h", true), f("web", 2, "h", true), f("web", 3, "h", false)];
        let p = plan(&wanted, &found, Flags::default());
        assert_eq!(
            p["web"],
            vec![
                Action::Remove { id: "p-web-2".into() },
                Action::Remove { id: "p-web-3".into() },
                Action::Keep {
                    id: "p-web-1".into(),
                    number: 1,
                    running: true
                },
            ]
        );
        let wanted = BTreeMap::from([("web".to_string(), w(3, "h"))]);
        let found = [f("web", 2, "h", true)];
        let p = plan(&wanted, &found, Flags::default());
        assert_eq!(
            p["web"][1..],
            [Action::Create { number: 1 }, Action::Create { number: 3 }]
        );
    }

    #[test]
    fn orphans_are_containers_of_unknown_services() {
        let services = BTreeSet::from(["web".to_string()]);
        let found = [f("web", 1, "h", true), f("old", 1, "h", true)];
        let o = orphans(&services, &found);
        assert_eq!(o.len(), 1);
        assert_eq!(o[0].service, "old");
    }
}
