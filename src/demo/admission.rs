//! Which connections a demo server takes: at most so many from one address (and from one IPv6
//! /64), so many from the network in all, and room of its own for this machine (the app and
//! its tests), so that a stranger's script on the booth Wi-Fi holding a thousand idle sockets
//! cannot keep a phone from opening the approval page. A refused connection is closed at once
//! (accepted first, so the kernel's queue never fills). Refusals are remembered for a minute,
//! for the booth screen to tell staff.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use super::network::{self, Counted};

/// Connections one network address may hold open (a phone's browser opens about six).
pub const CONNECTIONS_PER_ADDRESS: usize = 32;
/// Connections one IPv6 /64 may hold open (a phone may use several addresses of its /64).
pub const CONNECTIONS_PER_SUBNET: usize = 4 * CONNECTIONS_PER_ADDRESS;
/// Connections the network may hold open in all.
pub const NETWORK_CONNECTIONS: usize = 512;
/// Connections this machine may hold open (the app, its tests, the presenter's own checks).
pub const LOOPBACK_CONNECTIONS: usize = 256;
/// How long a refusal stays on the booth screen.
const STRAIN_SHOWN: Duration = Duration::from_secs(60);
/// Least time between two log lines about refusals.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// Whose connections a count is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Holder {
    /// One network address, or one IPv6 /64.
    Peer(Counted),
    /// The network in all.
    Network,
    /// This machine.
    Loopback,
}

/// Why a connection was turned away, in staff words for the booth screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strain {
    /// One address (or one IPv6 network) opened more connections than a phone would.
    OneAddress(IpAddr),
    /// The network as a whole holds as many connections as the server takes.
    Full,
}

impl Strain {
    /// What booth staff read.
    pub fn staff_words(&self) -> String {
        match self {
            Self::OneAddress(ip) => format!(
                "One device on the booth Wi-Fi ({ip}) opened far more connections than a phone \
                 does; the extra ones are turned away and phones still get in."
            ),
            Self::Full => "The booth server is at its connection limit: some phones may not \
                           get in. Someone on the booth Wi-Fi may be flooding it; a Wi-Fi of \
                           the booth's own (or a restart) ends it."
                .to_owned(),
        }
    }
}

/// The connection counts of one server (shared by its listeners).
#[derive(Debug, Default)]
pub struct Admission {
    inner: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    open: HashMap<Holder, usize>,
    /// The last refusal and when it was.
    strain: Option<(Instant, Strain)>,
    logged: Option<Instant>,
}

impl Admission {
    /// Lets a connection from `ip` in, holding its place until the pass is dropped; `None`
    /// when a limit is reached (the connection is to be closed).
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Pass> {
        let holders = holders_of(ip);
        let mut counts = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let full = holders
            .iter()
            .flatten()
            .find(|(holder, limit)| counts.open.get(holder).copied().unwrap_or(0) >= *limit);
        if let Some((holder, _)) = full {
            let strain = match holder {
                Holder::Network => Strain::Full,
                _ => Strain::OneAddress(network::canonical(ip)),
            };
            counts.refused(strain, ip);
            return None;
        }
        for (holder, _) in holders.iter().flatten() {
            *counts.open.entry(*holder).or_default() += 1;
        }
        Some(Pass {
            admission: Arc::clone(self),
            holders: holders.map(|held| held.map(|(holder, _)| holder)),
        })
    }

    /// The last refusal, if it was within the last minute.
    pub fn strain(&self) -> Option<Strain> {
        let counts = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let (at, strain) = counts.strain?;
        (at.elapsed() < STRAIN_SHOWN).then_some(strain)
    }

    /// Connections open now (for tests).
    #[cfg(test)]
    fn open(&self, holder: Holder) -> usize {
        let counts = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        counts.open.get(&holder).copied().unwrap_or(0)
    }

    fn release(&self, holders: &[Option<Holder>; 3]) {
        let mut counts = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        for holder in holders.iter().flatten() {
            if let Some(open) = counts.open.get_mut(holder) {
                *open = open.saturating_sub(1);
                if *open == 0 {
                    counts.open.remove(holder);
                }
            }
        }
    }
}

impl Counts {
    fn refused(&mut self, strain: Strain, ip: IpAddr) {
        let now = Instant::now();
        self.strain = Some((now, strain));
        if self
            .logged
            .is_none_or(|at| now.saturating_duration_since(at) >= LOG_EVERY)
        {
            self.logged = Some(now);
            tracing::warn!(%ip, ?strain, "the demo server turned connections away (limits)");
        }
    }
}

/// A connection's place in the counts; given back when dropped.
#[derive(Debug)]
pub struct Pass {
    admission: Arc<Admission>,
    holders: [Option<Holder>; 3],
}

impl Drop for Pass {
    fn drop(&mut self) {
        self.admission.release(&self.holders);
    }
}

/// Every count a connection from `ip` goes in, each with its limit.
fn holders_of(ip: IpAddr) -> [Option<(Holder, usize)>; 3] {
    let Some((address, subnet)) = Counted::of(ip) else {
        return [Some((Holder::Loopback, LOOPBACK_CONNECTIONS)), None, None];
    };
    [
        Some((Holder::Peer(address), CONNECTIONS_PER_ADDRESS)),
        subnet.map(|subnet| (Holder::Peer(subnet), CONNECTIONS_PER_SUBNET)),
        Some((Holder::Network, NETWORK_CONNECTIONS)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn one_address_is_capped_and_others_still_get_in() {
        let admission = Arc::new(Admission::default());
        let flood: Vec<Pass> = (0..1_100)
            .filter_map(|_| admission.admit(ip("10.9.0.66")))
            .collect();
        assert_eq!(flood.len(), CONNECTIONS_PER_ADDRESS);
        assert_eq!(
            admission.strain(),
            Some(Strain::OneAddress(ip("10.9.0.66")))
        );
        let phone = admission.admit(ip("10.9.0.2"));
        assert!(phone.is_some(), "a phone still gets in");
        drop(flood);
        assert_eq!(
            admission.open(Holder::Peer(Counted::Address(ip("10.9.0.66")))),
            0
        );
        assert_eq!(admission.open(Holder::Network), 1, "the phone's");
    }

    #[test]
    fn loopback_has_room_of_its_own() {
        let admission = Arc::new(Admission::default());
        let network: Vec<Pass> = (0..=255u8)
            .flat_map(|n| std::iter::repeat_n(IpAddr::from([10, 9, 1, n]), 3))
            .filter_map(|address| admission.admit(address))
            .collect();
        assert_eq!(network.len(), NETWORK_CONNECTIONS);
        assert_eq!(admission.strain(), Some(Strain::Full));
        assert!(
            admission.admit(ip("10.9.2.1")).is_none(),
            "the network is full"
        );
        let app: Vec<Pass> = (0..LOOPBACK_CONNECTIONS)
            .filter_map(|_| admission.admit(ip("127.0.0.1")))
            .collect();
        assert_eq!(
            app.len(),
            LOOPBACK_CONNECTIONS,
            "this machine still gets in"
        );
        assert!(admission.admit(ip("::1")).is_none(), "within its own room");
    }

    #[test]
    fn an_ipv6_64_has_a_looser_ceiling_than_one_address() {
        let admission = Arc::new(Admission::default());
        let passes: Vec<Pass> = (1..=20u16)
            .flat_map(|n| {
                let address = IpAddr::from([0x2001, 0xdb8, 0, 1, 0, 0, 0, n]);
                (0..CONNECTIONS_PER_ADDRESS).map(move |_| address)
            })
            .filter_map(|address| admission.admit(address))
            .collect();
        assert_eq!(passes.len(), CONNECTIONS_PER_SUBNET);
        assert!(
            admission.admit(ip("2001:db8:0:2::1")).is_some(),
            "another /64 gets in"
        );
        let mapped = admission.admit(ip("::ffff:10.9.0.2"));
        assert!(mapped.is_some());
        assert_eq!(
            admission.open(Holder::Peer(Counted::Address(ip("10.9.0.2")))),
            1
        );
    }
}
