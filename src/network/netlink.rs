//! rtnetlink, synchronously: each call runs on a short-lived thread inside
//! the target namespace with its own current-thread tokio runtime, so the
//! netlink socket is created in, and bound to, that namespace.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::RawFd;
use std::path::Path;

use futures_util::TryStreamExt;
use ipnet::IpNet;
use rtnetlink::packet_route::address::{AddressAttribute, AddressFlags, AddressHeaderFlags};
use rtnetlink::packet_route::link::{InfoData, InfoVeth, LinkAttribute, LinkMessage};
use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute, RouteHeader, RouteType};
use rtnetlink::{Handle, LinkBridge, LinkMessageBuilder, LinkUnspec, LinkVeth, RouteMessageBuilder};

use super::error::{NetworkError, Result};
use super::netns;

/// Runs `f` with a netlink handle in the namespace at `netns` (`None`: the
/// caller's namespace).
pub fn with_handle<T, F, Fut>(netns: Option<&Path>, f: F) -> Result<T>
where
    T: Send,
    F: FnOnce(Handle) -> Fut + Send,
    Fut: Future<Output = Result<T>>,
{
    netns::run_in(netns, move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .map_err(|e| NetworkError::io("starting the netlink event loop", e))?;
        rt.block_on(async move {
            let (conn, handle, _) =
                rtnetlink::new_connection().map_err(|e| NetworkError::io("opening a netlink socket", e))?;
            let task = tokio::spawn(conn);
            let out = f(handle).await;
            task.abort();
            out
        })
    })?
}

/// The errno of a netlink error, if the kernel sent one.
pub fn errno_of(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => m.to_io().raw_os_error(),
        _ => None,
    }
}

pub fn nl_err(action: &'static str, object: impl Into<String>, e: rtnetlink::Error) -> NetworkError {
    let message = match &e {
        rtnetlink::Error::NetlinkError(m) => m.to_io().to_string(),
        other => other.to_string(),
    };
    NetworkError::Netlink {
        action,
        object: object.into(),
        message,
    }
}

/// The index of interface `name`, or `None` when there is none.
pub async fn link_index(h: &Handle, name: &str) -> Result<Option<u32>> {
    match h.link().get().match_name(name.to_string()).execute().try_next().await {
        Ok(Some(m)) => Ok(Some(m.header.index)),
        Ok(None) => Ok(None),
        Err(e) if errno_of(&e) == Some(libc::ENODEV) => Ok(None),
        Err(e) => Err(nl_err("get link", name, e)),
    }
}

/// The full message of interface `name` (kind, controller, …).
pub async fn link_message(h: &Handle, name: &str) -> Result<Option<LinkMessage>> {
    match h.link().get().match_name(name.to_string()).execute().try_next().await {
        Ok(m) => Ok(m),
        Err(e) if errno_of(&e) == Some(libc::ENODEV) => Ok(None),
        Err(e) => Err(nl_err("get link", name, e)),
    }
}

pub async fn add_bridge(h: &Handle, name: &str, mtu: Option<u32>) -> Result<()> {
    let mut b = LinkBridge::new(name);
    if let Some(m) = mtu {
        b = b.mtu(m);
    }
    h.link()
        .add(b.build())
        .execute()
        .await
        .map_err(|e| nl_err("create bridge", name, e))
}

/// Creates a veth pair: `host` stays here, attached to the bridge with index
/// `controller` and up; `peer` is created directly in the namespace open as
/// `peer_ns_fd`, with `mac` if given.
pub async fn add_veth(
    h: &Handle,
    host: &str,
    peer: &str,
    peer_ns_fd: RawFd,
    controller: u32,
    mac: Option<[u8; 6]>,
    mtu: Option<u32>,
) -> Result<()> {
    let mut p = LinkMessageBuilder::<LinkUnspec>::new()
        .name(peer.to_string())
        .setns_by_fd(peer_ns_fd);
    if let Some(mac) = mac {
        p = p.address(mac.to_vec());
    }
    if let Some(m) = mtu {
        p = p.mtu(m);
    }
    let mut v = LinkVeth::new(host, peer)
        .set_info_data(InfoData::Veth(InfoVeth::Peer(p.build())))
        .controller(controller)
        .up();
    if let Some(m) = mtu {
        v = v.mtu(m);
    }
    h.link()
        .add(v.build())
        .execute()
        .await
        .map_err(|e| nl_err("create veth pair", format!("{host} <-> {peer}"), e))
}

pub async fn set_up(h: &Handle, index: u32, name: &str) -> Result<()> {
    h.link()
        .set(LinkUnspec::new_with_index(index).up().build())
        .execute()
        .await
        .map_err(|e| nl_err("set link up", name, e))
}

/// Deletes interface `name`; a missing interface is success.
pub async fn del_link(h: &Handle, name: &str) -> Result<()> {
    let Some(index) = link_index(h, name).await? else {
        return Ok(());
    };
    match h.link().del(index).execute().await {
        Err(e) if errno_of(&e) != Some(libc::ENODEV) => Err(nl_err("delete link", name, e)),
        _ => Ok(()),
    }
}

/// Adds an address; one that is already there is success. IPv6 addresses
/// skip duplicate address detection (IPAM already guarantees uniqueness),
/// so they are usable at once instead of after a second of "tentative".
pub async fn add_address(h: &Handle, index: u32, name: &str, addr: IpNet) -> Result<()> {
    let mut req = h.address().add(index, addr.addr(), addr.prefix_len());
    if addr.addr().is_ipv6() {
        let msg = req.message_mut();
        msg.header.flags |= AddressHeaderFlags::Nodad;
        msg.attributes.push(AddressAttribute::Flags(AddressFlags::Nodad));
    }
    match req.execute().await {
        Err(e) if errno_of(&e) != Some(libc::EEXIST) => Err(nl_err("add address", format!("{addr} on {name}"), e)),
        _ => Ok(()),
    }
}

/// Adds the default route via `gateway` (replacing an existing one).
pub async fn add_default_route(h: &Handle, gateway: IpAddr) -> Result<()> {
    let msg = match gateway {
        IpAddr::V4(g) => RouteMessageBuilder::<Ipv4Addr>::new().gateway(g).build(),
        IpAddr::V6(g) => RouteMessageBuilder::<Ipv6Addr>::new().gateway(g).build(),
    };
    h.route()
        .add(msg)
        .replace()
        .execute()
        .await
        .map_err(|e| nl_err("add default route", format!("via {gateway}"), e))
}

/// Every unicast route of the main table (IPv4 and IPv6), as prefixes.
pub async fn routes(h: &Handle) -> Result<Vec<IpNet>> {
    let mut out = Vec::new();
    for req in [
        RouteMessageBuilder::<Ipv4Addr>::new().build(),
        RouteMessageBuilder::<Ipv6Addr>::new().build(),
    ] {
        let mut s = h.route().get(req).execute();
        while let Some(m) = s
            .try_next()
            .await
            .map_err(|e| nl_err("list routes", "the main table", e))?
        {
            let table = m.attributes.iter().find_map(|a| {
                if let RouteAttribute::Table(t) = a {
                    Some(*t)
                } else {
                    None
                }
            });
            let table = table.unwrap_or(m.header.table as u32);
            if table != RouteHeader::RT_TABLE_MAIN as u32 || m.header.kind != RouteType::Unicast {
                continue;
            }
            let len = m.header.destination_prefix_length;
            let dst = m.attributes.iter().find_map(|a| match a {
                RouteAttribute::Destination(RouteAddress::Inet(v)) => Some(IpAddr::V4(*v)),
                RouteAttribute::Destination(RouteAddress::Inet6(v)) => Some(IpAddr::V6(*v)),
                _ => None,
            });
            if let Some(d) = dst {
                if let Ok(n) = IpNet::new(d, len) {
                    out.push(n.trunc());
                }
            }
        }
    }
    Ok(out)
}

/// The names of all interfaces in the handle's namespace.
pub async fn link_names(h: &Handle) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut s = h.link().get().execute();
    while let Some(m) = s
        .try_next()
        .await
        .map_err(|e| nl_err("list links", "all interfaces", e))?
    {
        if let Some(n) = m.attributes.iter().find_map(|a| {
            if let LinkAttribute::IfName(n) = a {
                Some(n.clone())
            } else {
                None
            }
        }) {
            out.push(n);
        }
    }
    Ok(out)
}

/// The host routes IPAM must avoid, from the caller's namespace.
pub fn host_routes() -> Result<Vec<IpNet>> {
    with_handle(None, |h| async move { routes(&h).await })
}
