//! Which address phones are given when the demo server listens on the network.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::Reach;

/// The address to put in links for phones, and who can reach the server.
///
/// A specific address is used as it is. For "any address" (`0.0.0.0`, `[::]`) it is this
/// machine's address on the network that holds the default route, else the first address of
/// an interface that is up and not loopback. Link-local and loopback addresses are only a last
/// resort, with a warning: phones cannot open them.
pub fn advertised(listen: SocketAddr) -> (SocketAddr, Reach) {
    let ip = canonical(listen.ip());
    if ip.is_loopback() {
        return (listen, Reach::ThisMachine);
    }
    if !ip.is_unspecified() {
        let interface = interface_of(ip);
        let unusable = unusable(ip);
        return (
            listen,
            Reach::Network {
                interface,
                unusable,
            },
        );
    }
    let found = default_route_address(ip).or_else(|| first_usable_address(ip));
    let Some(found) = found else {
        let fallback = SocketAddr::new(loopback_of(ip), listen.port());
        let unusable = Some(
            "this machine has no network address that phones can reach (it is on no network, \
             or only on a link-local one). Join the booth's Wi-Fi or plug in its cable, then \
             start again"
                .to_owned(),
        );
        let reach = Reach::Network {
            interface: None,
            unusable,
        };
        return (fallback, reach);
    };
    let reach = Reach::Network {
        interface: interface_of(found),
        unusable: None,
    };
    (SocketAddr::new(found, listen.port()), reach)
}

/// The loopback address of an address's family.
pub fn loopback_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:127.0.0.1`, as a dual-stack listener sees IPv4
/// clients) as the IPv4 addresses they are.
pub fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

/// True for an address of this machine only, IPv4-mapped loopback included.
pub fn is_loopback(ip: IpAddr) -> bool {
    canonical(ip).is_loopback()
}

/// Whom a limit on network clients counts: one address, or one IPv6 /64 (a phone may use
/// several addresses of its /64, and so may a prankster, so a /64 has a looser limit of its
/// own beside each address's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Counted {
    /// One address (IPv4-mapped ones as IPv4).
    Address(IpAddr),
    /// One IPv6 /64, by its upper 64 bits.
    Subnet(u64),
}

impl Counted {
    /// The counts a peer goes in: its address, and for IPv6 its /64; `None` for this machine,
    /// which is never limited as a network client.
    pub fn of(ip: IpAddr) -> Option<(Self, Option<Self>)> {
        if is_loopback(ip) {
            return None;
        }
        let ip = canonical(ip);
        let subnet = match ip {
            IpAddr::V6(v6) => u64::try_from(u128::from(v6) >> 64).ok().map(Self::Subnet),
            IpAddr::V4(_) => None,
        };
        Some((Self::Address(ip), subnet))
    }

    /// Whether a peer at `ip` is counted here.
    pub fn covers(&self, ip: IpAddr) -> bool {
        Self::of(ip).is_some_and(|(address, subnet)| address == *self || subnet == Some(*self))
    }
}

/// Why phones cannot open an address, if they cannot.
fn unusable(ip: IpAddr) -> Option<String> {
    let link_local = match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => v6.is_unicast_link_local(),
    };
    link_local.then(|| {
        format!(
            "{ip} is a link-local address, which phones on Wi-Fi usually cannot open. Listen on \
             the address of the booth network instead"
        )
    })
}

/// The local address the system would use to reach the internet. Connecting a UDP socket
/// sends nothing; it only asks the routing table. The target is a documentation address
/// (TEST-NET-1, `2001:db8::`), never contacted.
fn default_route_address(listen: IpAddr) -> Option<IpAddr> {
    let targets: [(IpAddr, IpAddr); 2] = [
        (
            Ipv4Addr::UNSPECIFIED.into(),
            Ipv4Addr::new(192, 0, 2, 1).into(),
        ),
        (
            Ipv6Addr::UNSPECIFIED.into(),
            Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1).into(),
        ),
    ];
    families(listen)
        .into_iter()
        .filter_map(|v4| targets.into_iter().find(|(bind, _)| bind.is_ipv4() == v4))
        .find_map(|(bind, target)| {
            let socket = std::net::UdpSocket::bind((bind, 0)).ok()?;
            socket.connect((target, 9)).ok()?;
            let local = canonical(socket.local_addr().ok()?.ip());
            (!local.is_loopback() && !local.is_unspecified() && unusable(local).is_none())
                .then_some(local)
        })
}

/// The first address of an interface that phones could open.
fn first_usable_address(listen: IpAddr) -> Option<IpAddr> {
    let interfaces = if_addrs::get_if_addrs().ok()?;
    families(listen).into_iter().find_map(|v4| {
        interfaces
            .iter()
            .map(if_addrs::Interface::ip)
            .find(|ip| ip.is_ipv4() == v4 && !ip.is_loopback() && unusable(*ip).is_none())
    })
}

/// Address families to look in, best first (`true` is IPv4). Phones on a booth's Wi-Fi are
/// sure to have IPv4; a dual-stack `[::]` listener (Linux's default) takes it too.
fn families(listen: IpAddr) -> Vec<bool> {
    match listen {
        IpAddr::V4(_) => vec![true],
        IpAddr::V6(_) if cfg!(target_os = "linux") => vec![true, false],
        IpAddr::V6(_) => vec![false],
    }
}

/// The name of the interface that holds `ip`, e.g. `wlan0`.
fn interface_of(ip: IpAddr) -> Option<String> {
    if_addrs::get_if_addrs()
        .ok()?
        .into_iter()
        .find(|interface| interface.ip() == ip)
        .map(|interface| interface.name)
}

/// A `Host` header's name and port (`None` when it names none), IPv6 brackets removed; an
/// unclosed bracket names nothing.
pub fn split_host(host: &str) -> (&str, Option<&str>) {
    match host.strip_prefix('[') {
        Some(bracketed) => match bracketed.split_once(']') {
            Some((name, rest)) => (name, rest.strip_prefix(':')),
            // Not a host at all.
            None => ("", None),
        },
        None => match host.rsplit_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        },
    }
}

/// True for `localhost`, `127.x.y.z` or `[::1]` (IPv4-mapped too), with or without a port.
pub fn is_loopback_host(host: &str) -> bool {
    let (name, _port) = split_host(host);
    name.eq_ignore_ascii_case("localhost") || name.parse::<IpAddr>().is_ok_and(is_loopback)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_listeners_answer_this_machine_only() {
        let listen = SocketAddr::from(([127, 0, 0, 1], 8480));
        assert_eq!(advertised(listen), (listen, Reach::ThisMachine));
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        assert!(is_loopback(mapped), "IPv4-mapped loopback is loopback");
        assert!(!is_loopback("::ffff:10.0.0.1".parse().unwrap()));
    }

    #[test]
    fn a_link_local_address_is_flagged_for_phones() {
        let listen = SocketAddr::from(([169, 254, 10, 20], 8480));
        let (addr, reach) = advertised(listen);
        assert_eq!(addr, listen);
        let Reach::Network { unusable, .. } = reach else {
            panic!("exposed");
        };
        assert!(unusable.unwrap().contains("link-local"));
    }

    #[test]
    fn any_address_advertises_a_real_one_or_says_why_not() {
        let (addr, reach) = advertised(SocketAddr::from(([0, 0, 0, 0], 8480)));
        assert_eq!(addr.port(), 8480);
        let Reach::Network { unusable, .. } = reach else {
            panic!("exposed");
        };
        // Whatever this machine's network, the link is usable or the reason is given.
        assert_eq!(addr.ip().is_loopback(), unusable.is_some(), "{addr}");
        assert!(!addr.ip().is_unspecified());
    }
}
