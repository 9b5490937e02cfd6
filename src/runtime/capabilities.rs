//! Cutting a process' capabilities down to an OCI `process.capabilities`.
//! Shared by `exec` and by the init's last step before `execve` (`launch`).

use caps::{CapSet, Capability, CapsHashSet};
use oci_spec::runtime::LinuxCapabilities;

/// A capability set as the OCI spec spells it.
pub(crate) type OciCaps = oci_spec::runtime::Capabilities;

fn to_set(c: Option<&OciCaps>) -> CapsHashSet {
    c.map(|s| {
        s.iter()
            .filter_map(|cap| format!("CAP_{cap}").parse::<Capability>().ok())
            .collect()
    })
    .unwrap_or_default()
}

/// Drops from the bounding set what `c.bounding` lacks, one capability at a
/// time. Needs CAP_SETPCAP, so that one goes last.
pub(crate) fn cut_bounding(c: &LinuxCapabilities) -> Result<(), String> {
    let keep = to_set(c.bounding().as_ref());
    let current = caps::read(None, CapSet::Bounding).map_err(|e| format!("bounding capabilities: {e}"))?;
    let mut drop: Vec<Capability> = current.difference(&keep).copied().collect();
    drop.sort_by_key(|cap| *cap == Capability::CAP_SETPCAP);
    for cap in drop {
        caps::drop(None, CapSet::Bounding, cap).map_err(|e| format!("dropping {cap} from the bounding set: {e}"))?;
    }
    Ok(())
}

/// Sets the effective, inheritable and permitted sets to `c`'s. Effective
/// must stay within permitted, so permitted shrinks last.
pub(crate) fn set_sets(c: &LinuxCapabilities) -> Result<(), String> {
    caps::set(None, CapSet::Effective, &to_set(c.effective().as_ref()))
        .map_err(|e| format!("effective capabilities: {e}"))?;
    caps::set(None, CapSet::Inheritable, &to_set(c.inheritable().as_ref()))
        .map_err(|e| format!("inheritable capabilities: {e}"))?;
    caps::set(None, CapSet::Permitted, &to_set(c.permitted().as_ref()))
        .map_err(|e| format!("permitted capabilities: {e}"))
}
