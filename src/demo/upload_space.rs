//! The disk a demo server's uploads may take, so that nobody on a booth network can fill the
//! laptop's disk (the temporary folder is RAM on several distributions):
//!
//! - every upload reserves the bytes it may write before a byte of its body is read: what
//!   is kept plus what is reserved stays within the server's cap (the oldest assets making
//!   way), and the disk keeps [`KEEP_FREE`] free;
//! - each network client (an address, an IPv6 /64 at [`SUBNET_FACTOR`] times as much) holds
//!   at most a quota of kept and reserved bytes, when the server is on a network;
//!
//! One reception per part at a time is [`super::part_slot`]'s.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use super::assets::{Assets, Evicted, MAX_HELD_BYTES};
use super::network::Counted;

const GIB: u64 = 1024 * 1024 * 1024;
/// Most bytes kept and reserved by a server that answers this machine only.
pub const LOOPBACK_CAP: u64 = MAX_HELD_BYTES;
/// Most bytes kept and reserved by a server on a network (a booth): test clips, not rushes.
pub const NETWORK_CAP: u64 = 4 * GIB;
/// Most bytes one network address may hold, kept and reserved, on a server on a network.
pub const NETWORK_QUOTA: u64 = GIB;
/// How many times an address's quota one IPv6 /64 may hold.
pub const SUBNET_FACTOR: u64 = 4;
/// Free space an upload must leave on the disk of the upload folder.
pub const KEEP_FREE: u64 = GIB;

/// Why an upload found no room; said in its 507 answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoRoom {
    /// The server's cap is reached by what it keeps and what is under way.
    #[error(
        "the demo server keeps at most {cap} bytes of uploads and the rest is under way; \
         try again when other uploads have ended"
    )]
    Full { cap: u64 },
    /// This client's quota is reached.
    #[error(
        "this address may hold at most {quota} bytes of uploads on a demo server on a network; \
         upload from the laptop itself for more"
    )]
    Quota { quota: u64 },
    /// The disk is nearly full.
    #[error(
        "the disk of the demo server's upload folder has {free} bytes free; uploads keep at \
         least {KEEP_FREE} free"
    )]
    Disk { free: u64 },
}

/// Whose bytes are reserved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Holder {
    All,
    Peer(Counted),
}

/// One server's upload space.
#[derive(Debug)]
pub struct UploadSpace {
    folder: Option<PathBuf>,
    cap: u64,
    /// Per network address; `None` for a server that answers this machine only.
    quota: Option<u64>,
    reserved: Mutex<HashMap<Holder, u64>>,
}

impl UploadSpace {
    /// The space of a server whose uploads go in `folder`, on a network or not.
    pub fn new(folder: Option<PathBuf>, on_network: bool) -> Self {
        Self {
            folder,
            cap: if on_network {
                NETWORK_CAP
            } else {
                LOOPBACK_CAP
            },
            quota: on_network.then_some(NETWORK_QUOTA),
            reserved: Mutex::default(),
        }
    }

    /// Free bytes on the disk of the upload folder (`None` when it cannot be told). Asked
    /// before [`Self::reserve`], outside the state's lock: it is a system call.
    pub fn free(&self) -> Option<u64> {
        fs4::available_space(self.folder.as_ref()?).ok()
    }

    /// Reserves `bytes` for an upload from `ip` to asset `asset`, making room by forgetting
    /// the oldest other assets when the cap calls for it (returned, to drop off the async
    /// threads), or says why there is none. `free`: from [`Self::free`].
    pub fn reserve(
        self: &Arc<Self>,
        assets: &mut Assets,
        (asset, ip): (&str, IpAddr),
        bytes: u64,
        free: Option<u64>,
    ) -> Result<(Reservation, Evicted), NoRoom> {
        if let Some(free) = free
            && free < bytes.saturating_add(KEEP_FREE)
        {
            return Err(NoRoom::Disk { free });
        }
        let mut reserved = self.reserved.lock().unwrap_or_else(PoisonError::into_inner);
        let counted = Counted::of(ip);
        let mut holders = vec![Holder::All];
        if let (Some(quota), Some((address, subnet))) = (self.quota, counted) {
            for (who, limit) in [
                (Some(address), quota),
                (subnet, quota.saturating_mul(SUBNET_FACTOR)),
            ] {
                let Some(who) = who else { continue };
                let held = assets
                    .stored_bytes(Some(who))
                    .saturating_add(reserved.get(&Holder::Peer(who)).copied().unwrap_or(0));
                if held.saturating_add(bytes) > limit {
                    return Err(NoRoom::Quota { quota });
                }
                holders.push(Holder::Peer(who));
            }
        }
        let mut evicted = Evicted::default();
        loop {
            let held = assets
                .stored_bytes(None)
                .saturating_add(reserved.get(&Holder::All).copied().unwrap_or(0));
            if held.saturating_add(bytes) <= self.cap {
                break;
            }
            match assets.evict_oldest(asset) {
                Some(more) => evicted.extend(more),
                None => return Err(NoRoom::Full { cap: self.cap }),
            }
        }
        for holder in &holders {
            let entry = reserved.entry(*holder).or_default();
            *entry = entry.saturating_add(bytes);
        }
        let reservation = Reservation {
            space: Arc::clone(self),
            holders,
            bytes,
        };
        Ok((reservation, evicted))
    }

    fn release(&self, holders: &[Holder], bytes: u64) {
        let mut reserved = self.reserved.lock().unwrap_or_else(PoisonError::into_inner);
        for holder in holders {
            if let Some(entry) = reserved.get_mut(holder) {
                *entry = entry.saturating_sub(bytes);
                if *entry == 0 {
                    reserved.remove(holder);
                }
            }
        }
    }
}

/// Bytes reserved for one upload; given back when dropped.
#[derive(Debug)]
pub struct Reservation {
    space: Arc<UploadSpace>,
    holders: Vec<Holder>,
    bytes: u64,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.space.release(&self.holders, self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::assets::{Announced, Announcement, CreatedVia, PartHeaders};

    const MIB: u64 = 1024 * 1024;

    /// `assets` with a one-part asset `id` of `size` bytes, kept whole as sent from `from`.
    fn kept(assets: &mut Assets, id: &str, size: u64, from: Option<IpAddr>) {
        let announcement = Announcement {
            name: "clip.mp4".into(),
            filetype: "video/mp4".into(),
            created_via: CreatedVia::Devices,
            kind: Announced::Normal {
                filesize: size,
                parts: 1,
            },
            offset: None,
        };
        let folder = tempfile::tempdir().unwrap();
        let _ = assets.create(id.into(), "CAM", announcement, 0, folder);
        if from.is_some() {
            assets
                .store_part((id, 1), (size, PartHeaders::default(), from), |_| Ok(()))
                .unwrap();
        }
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn a_network_address_holds_at_most_its_quota_kept_and_reserved() {
        let space = Arc::new(UploadSpace::new(None, true));
        let mut assets = Assets::default();
        let stranger = ip("10.9.0.66");
        kept(&mut assets, "a", 600 * MIB, Some(stranger));
        kept(&mut assets, "b", 0, None);
        let refused = space.reserve(&mut assets, ("b", stranger), 500 * MIB, None);
        assert_eq!(
            refused.err(),
            Some(NoRoom::Quota {
                quota: NETWORK_QUOTA
            })
        );
        let (held, _) = space
            .reserve(&mut assets, ("b", ip("10.9.0.2")), 600 * MIB, None)
            .unwrap();
        let more = space.reserve(&mut assets, ("b", ip("10.9.0.2")), 500 * MIB, None);
        assert!(matches!(more, Err(NoRoom::Quota { .. })), "reserved counts");
        drop(held);
        assert!(
            space
                .reserve(&mut assets, ("b", ip("10.9.0.2")), 500 * MIB, None)
                .is_ok()
        );
        // This machine has no quota.
        assert!(
            space
                .reserve(&mut assets, ("b", ip("127.0.0.1")), 2 * GIB, None)
                .is_ok()
        );
    }

    #[test]
    fn the_cap_makes_the_oldest_assets_way_and_then_refuses() {
        let space = Arc::new(UploadSpace::new(None, false));
        let mut assets = Assets::default();
        kept(&mut assets, "old", 12 * GIB, Some(ip("127.0.0.1")));
        kept(&mut assets, "new", 12 * GIB, None);
        assert_eq!(assets.len(), 2);
        let (_held, evicted) = space
            .reserve(&mut assets, ("new", ip("127.0.0.1")), 21 * GIB, None)
            .unwrap();
        assert!(!evicted.is_empty(), "the old asset made way");
        assert_eq!(assets.len(), 1);
        let over = space.reserve(&mut assets, ("new", ip("127.0.0.1")), 12 * GIB, None);
        assert_eq!(over.err(), Some(NoRoom::Full { cap: LOOPBACK_CAP }));
    }

    #[test]
    fn an_upload_leaves_the_disk_room_to_breathe() {
        let space = Arc::new(UploadSpace::new(None, false));
        let mut assets = Assets::default();
        kept(&mut assets, "a", 0, None);
        let free = 2 * GIB;
        let refused = space.reserve(&mut assets, ("a", ip("127.0.0.1")), GIB + 1, Some(free));
        assert_eq!(refused.err(), Some(NoRoom::Disk { free }));
        assert!(
            space
                .reserve(&mut assets, ("a", ip("127.0.0.1")), GIB, Some(free))
                .is_ok()
        );
    }
}
