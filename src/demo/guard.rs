//! How much one client address may ask of a demo server on a public network: code guesses on
//! the approval page (with a lock-out after repeated wrong codes), token requests, and live
//! device codes. RFC 8628 §5.1: a six-digit code is only safe behind a rate limit.
//!
//! On the approval page only failed submissions count (a wrong code, a forged or stale form):
//! a right code is no guess, and a booth phone may approve one visitor after another.
//!
//! This machine (loopback) is never limited: it is the app itself and its tests. Each address
//! has its limits, and each IPv6 /64 looser ones of its own ([`SUBNET_FACTOR`] times as
//! many, and no lock-out): a prankster who locks their own address out does not lock out
//! every phone of the booth's IPv6 network, and one who hops between the addresses of a /64
//! still meets a ceiling. Pure logic on a clock passed in, with a bounded number of
//! addresses remembered.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use tokio::time::Instant;

use super::network::Counted;

/// Failed approval-page submissions one address may make per minute.
pub const FAILED_SUBMISSIONS_PER_MINUTE: u32 = 10;
/// Wrong codes in a row (within [`LOCKOUT`]) that lock an address out of the approval page.
pub const WRONG_CODES_BEFORE_LOCKOUT: u32 = 5;
/// How long an address stays locked out after too many wrong codes.
pub const LOCKOUT: Duration = Duration::from_secs(10 * 60);
/// Token-endpoint requests one address may make per minute (a device polls about 12).
pub const TOKEN_REQUESTS_PER_MINUTE: u32 = 120;
/// Device codes one address may hold alive at once.
pub const LIVE_CODES_PER_ADDRESS: usize = 10;
/// How many times an address's limits a whole IPv6 /64 may reach (it is never locked out).
pub const SUBNET_FACTOR: u32 = 4;
/// Most addresses remembered; beyond it the idlest are forgotten, and while every one is
/// recent, new addresses are refused until some go quiet.
const MAX_ADDRESSES: usize = 4096;
const MINUTE: Duration = Duration::from_secs(60);

/// Whom a live-code limit counts: the address that asked (`None`: this machine).
pub type Client = Counted;

/// The client counted for `ip`'s live codes: its address; `None` for this machine.
pub fn client_of(ip: IpAddr) -> Option<Client> {
    Counted::of(ip).map(|(address, _)| address)
}

/// What a limit says about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Go ahead.
    Allowed,
    /// Too many requests: try again after this long.
    Limited(Duration),
    /// Locked out after too many wrong codes, for this long.
    LockedOut(Duration),
}

/// A count over a fixed one-minute window.
#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    count: u32,
}

impl Window {
    fn new(now: Instant) -> Self {
        Self {
            started: now,
            count: 0,
        }
    }

    /// Whether one more request fits under `limit` this minute.
    fn check(&mut self, limit: u32, now: Instant) -> Verdict {
        if now.saturating_duration_since(self.started) >= MINUTE {
            *self = Self::new(now);
        }
        if self.count >= limit {
            let wait = MINUTE.saturating_sub(now.saturating_duration_since(self.started));
            return Verdict::Limited(wait.max(Duration::from_secs(1)));
        }
        Verdict::Allowed
    }

    /// Counts one request; the wait before the next is allowed, when over `limit`.
    fn take(&mut self, limit: u32, now: Instant) -> Verdict {
        let verdict = self.check(limit, now);
        if verdict == Verdict::Allowed {
            self.count = self.count.saturating_add(1);
        }
        verdict
    }
}

#[derive(Debug, Clone, Copy)]
struct Record {
    failures: Window,
    tokens: Window,
    wrong_codes: u32,
    last_wrong: Option<Instant>,
    locked_until: Option<Instant>,
    last_seen: Instant,
}

impl Record {
    fn new(now: Instant) -> Self {
        Self {
            failures: Window::new(now),
            tokens: Window::new(now),
            wrong_codes: 0,
            last_wrong: None,
            locked_until: None,
            last_seen: now,
        }
    }

    fn idle(&self, now: Instant) -> bool {
        let locked = self.locked_until.is_some_and(|until| until > now);
        !locked && now.saturating_duration_since(self.last_seen) >= LOCKOUT
    }
}

/// Every address's counts.
#[derive(Debug, Default)]
pub struct Guard {
    records: HashMap<Counted, Record>,
}

impl Guard {
    /// Whether `ip` may submit the approval page now.
    pub fn approval(&mut self, ip: IpAddr, now: Instant) -> Verdict {
        self.each(ip, now, |record, factor| {
            if let Some(until) = record.locked_until.filter(|until| *until > now) {
                return Verdict::LockedOut(until.saturating_duration_since(now));
            }
            record
                .failures
                .check(FAILED_SUBMISSIONS_PER_MINUTE.saturating_mul(factor), now)
        })
    }

    /// A submission from `ip` that failed before its code was looked at (a forged or stale
    /// form).
    pub fn failed_submission(&mut self, ip: IpAddr, now: Instant) {
        let _ = self.each(ip, now, |record, factor| {
            let _ = record
                .failures
                .take(FAILED_SUBMISSIONS_PER_MINUTE.saturating_mul(factor), now);
            Verdict::Allowed
        });
    }

    /// A code from `ip` that was wrong (unknown, expired or used); enough of them in a row lock
    /// the address (never its /64) out.
    pub fn wrong_code(&mut self, ip: IpAddr, now: Instant) {
        let _ = self.each(ip, now, |record, factor| {
            let _ = record
                .failures
                .take(FAILED_SUBMISSIONS_PER_MINUTE.saturating_mul(factor), now);
            if factor != 1 {
                return Verdict::Allowed;
            }
            let stale = record
                .last_wrong
                .is_some_and(|last| now.saturating_duration_since(last) >= LOCKOUT);
            if stale {
                record.wrong_codes = 0;
            }
            record.wrong_codes = record.wrong_codes.saturating_add(1);
            record.last_wrong = Some(now);
            if record.wrong_codes >= WRONG_CODES_BEFORE_LOCKOUT {
                record.locked_until = now.checked_add(LOCKOUT);
                record.wrong_codes = 0;
            }
            Verdict::Allowed
        });
    }

    /// A right code from `ip`: the run of wrong ones ends.
    pub fn right_code(&mut self, ip: IpAddr, now: Instant) {
        let _ = self.each(ip, now, |record, _| {
            record.wrong_codes = 0;
            Verdict::Allowed
        });
    }

    /// One token-endpoint request from `ip`.
    pub fn token_request(&mut self, ip: IpAddr, now: Instant) -> Verdict {
        self.each(ip, now, |record, factor| {
            record
                .tokens
                .take(TOKEN_REQUESTS_PER_MINUTE.saturating_mul(factor), now)
        })
    }

    /// Addresses (and /64s) remembered (for the memory bound's tests).
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Applies `rule` to the address's record (with factor 1), then, if it allowed, to its
    /// /64's (with [`SUBNET_FACTOR`]); the first verdict that is not [`Verdict::Allowed`].
    fn each(
        &mut self,
        ip: IpAddr,
        now: Instant,
        mut rule: impl FnMut(&mut Record, u32) -> Verdict,
    ) -> Verdict {
        let Some((address, subnet)) = Counted::of(ip) else {
            return Verdict::Allowed;
        };
        let verdict = self.with(address, now, |record| rule(record, 1));
        match subnet {
            Some(subnet) if verdict == Verdict::Allowed => {
                self.with(subnet, now, |record| rule(record, SUBNET_FACTOR))
            }
            _ => verdict,
        }
    }

    fn with(
        &mut self,
        counted: Counted,
        now: Instant,
        rule: impl FnOnce(&mut Record) -> Verdict,
    ) -> Verdict {
        if !self.records.contains_key(&counted) && self.records.len() >= MAX_ADDRESSES {
            self.records.retain(|_, record| !record.idle(now));
            if self.records.len() >= MAX_ADDRESSES {
                // Every remembered address is recent: a flood of addresses. New ones wait.
                return Verdict::Limited(MINUTE);
            }
        }
        let record = self
            .records
            .entry(counted)
            .or_insert_with(|| Record::new(now));
        record.last_seen = now;
        rule(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PHONE: [u8; 4] = [10, 251, 0, 2];

    #[test]
    fn wrong_codes_lock_an_address_out_and_the_lock_ends() {
        let mut guard = Guard::default();
        let t0 = Instant::now();
        let phone = IpAddr::from(PHONE);
        for _ in 0..WRONG_CODES_BEFORE_LOCKOUT {
            assert_eq!(guard.approval(phone, t0), Verdict::Allowed);
            guard.wrong_code(phone, t0);
        }
        assert_eq!(guard.approval(phone, t0), Verdict::LockedOut(LOCKOUT));
        // Another phone is not affected.
        assert_eq!(
            guard.approval(IpAddr::from([10, 251, 0, 3]), t0),
            Verdict::Allowed
        );
        let later = t0 + LOCKOUT;
        assert_eq!(guard.approval(phone, later), Verdict::Allowed);
    }

    #[test]
    fn a_right_code_ends_the_run_of_wrong_ones() {
        let mut guard = Guard::default();
        let t0 = Instant::now();
        let phone = IpAddr::from(PHONE);
        for _ in 1..WRONG_CODES_BEFORE_LOCKOUT {
            guard.wrong_code(phone, t0);
        }
        guard.right_code(phone, t0);
        guard.wrong_code(phone, t0);
        assert_eq!(guard.approval(phone, t0), Verdict::Allowed);
    }

    #[test]
    fn failures_and_polls_are_limited_per_minute_but_not_for_this_machine() {
        let mut guard = Guard::default();
        let t0 = Instant::now();
        let phone = IpAddr::from(PHONE);
        let allowed = (0..100)
            .filter(|_| {
                let verdict = guard.approval(phone, t0);
                guard.failed_submission(phone, t0);
                verdict == Verdict::Allowed
            })
            .count();
        assert_eq!(allowed, FAILED_SUBMISSIONS_PER_MINUTE as usize);
        assert_eq!(guard.approval(phone, t0 + MINUTE), Verdict::Allowed);
        // Right codes are no guesses: a booth phone approves visitor after visitor.
        let other = IpAddr::from([10, 251, 0, 9]);
        for _ in 0..100 {
            assert_eq!(guard.approval(other, t0), Verdict::Allowed);
            guard.right_code(other, t0);
        }
        let polls = (0..1000)
            .filter(|_| guard.token_request(phone, t0) == Verdict::Allowed)
            .count();
        assert_eq!(polls, TOKEN_REQUESTS_PER_MINUTE as usize);
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        for ip in [IpAddr::from([127, 0, 0, 1]), mapped, "::1".parse().unwrap()] {
            assert!((0..1000).all(|_| guard.approval(ip, t0) == Verdict::Allowed));
        }
    }

    #[test]
    fn an_ipv6_address_is_locked_out_alone_and_its_64_meets_a_looser_ceiling() {
        let mut guard = Guard::default();
        let t0 = Instant::now();
        let prankster: IpAddr = "2001:db8:1:2::66".parse().unwrap();
        let phone: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        for _ in 0..WRONG_CODES_BEFORE_LOCKOUT {
            guard.wrong_code(prankster, t0);
        }
        assert_eq!(guard.approval(prankster, t0), Verdict::LockedOut(LOCKOUT));
        assert_eq!(guard.approval(phone, t0), Verdict::Allowed, "same /64");
        // Hopping between the /64's addresses meets the /64's ceiling, a minute long.
        let hops = (0..1000u16)
            .filter(|n| {
                let hop = IpAddr::from([0x2001, 0xdb8, 1, 2, 0, 0, 1, *n]);
                let verdict = guard.approval(hop, t0);
                guard.wrong_code(hop, t0);
                verdict == Verdict::Allowed
            })
            .count();
        let ceiling = (FAILED_SUBMISSIONS_PER_MINUTE * SUBNET_FACTOR) as usize;
        assert_eq!(hops, ceiling - WRONG_CODES_BEFORE_LOCKOUT as usize);
        assert!(matches!(guard.approval(phone, t0), Verdict::Limited(_)));
        assert_eq!(guard.approval(phone, t0 + MINUTE), Verdict::Allowed);
        assert_eq!(
            guard.approval("2001:db8:1:3::1".parse().unwrap(), t0),
            Verdict::Allowed,
            "another /64"
        );
    }

    #[test]
    fn memory_is_bounded() {
        let mut guard = Guard::default();
        let t0 = Instant::now();
        for n in 0..(MAX_ADDRESSES as u32 + 500) {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + n));
            let _ = guard.token_request(ip, t0);
        }
        assert_eq!(guard.len(), MAX_ADDRESSES);
    }
}
