//! The assets devices create and the parts they send: what each asset announced, which parts
//! arrived and how often, and whether the parts assemble to what was announced.
//!
//! Pure bookkeeping: the bodies themselves are files ([`super::part_files`]), written and
//! read by the HTTP layer; an asset's folder goes with the asset when it is forgotten.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;

use super::comments::{self, Comment, NewComment};
use super::limits::{MAX_PART, MIN_PART};
use super::network::Counted;
use super::part_files::part_path;
use super::part_slot::PartSlot;
use super::realtime::{self, PartsRequest, SoFar};

/// Most assets remembered, and most parts across them; the oldest make way.
const MAX_ASSETS: usize = 1_000;
const MAX_ASSET_PARTS: usize = 200_000;
/// Most bytes the assets remembered may announce together (a normal asset's size, the sizes
/// of the real-time parts asked for), the oldest making way: their parts are on disk, and a
/// part never exceeds what its asset announced (by more than [`PART_SLACK`]), so this bounds
/// the disk a demo server on a booth network can be made to fill.
pub const MAX_HELD_BYTES: u64 = 32 * 1024 * 1024 * 1024;
/// What a part may exceed what is left of its asset by, so that a slightly wrong part is
/// answered with the size check's clear message rather than cut off.
const PART_SLACK: u64 = 64 * 1024;

/// Through which path an asset was created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CreatedVia {
    /// `POST /v2/devices/assets`.
    Devices,
    /// The deprecated `POST /v2/assets`.
    Legacy,
}

/// What a device announced when it created an asset.
#[derive(Debug, Clone)]
pub struct Announcement {
    /// Asset name.
    pub name: String,
    /// MIME type.
    pub filetype: String,
    /// Which path created it.
    pub created_via: CreatedVia,
    /// Normal or real-time.
    pub kind: Announced,
    /// Seconds since the media was created, as sent (`None`: not sent, which means 0).
    pub offset: Option<u64>,
}

/// The two kinds of asset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Announced {
    /// Size and part count known up front; one URL per part at once.
    Normal {
        /// Size in bytes.
        filesize: u64,
        /// Number of parts.
        parts: u32,
    },
    /// Parts asked for while the file grows (spec §3.7).
    Realtime {
        /// The extension, when the asset was created with an extension and no name (it may
        /// then be renamed by its parts requests).
        extension_only: Option<String>,
    },
}

/// Why a part was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PartRefused {
    /// No such asset, or no such part of it.
    #[error("no such upload")]
    Unknown,
    /// The part breaks S3's rules.
    #[error("{0}")]
    Invalid(String),
}

/// Why a real-time parts request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PartsRefused {
    /// No such asset of this device.
    #[error("there is no asset {0} of this device")]
    Unknown(String),
    /// The asset is a normal one: its upload URLs came when it was created.
    #[error(
        "asset {0} was not created as a real-time upload (is_realtime_upload: true); its \
         upload URLs came when it was created"
    )]
    NotRealtime(String),
    /// The request breaks a rule (see [`super::realtime`]).
    #[error("{0}")]
    Invalid(String),
}

/// Why a comment was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommentRefused {
    /// No such asset of this device.
    #[error("there is no asset {0} of this device")]
    Unknown(String),
    /// The demo server keeps no more comments (on this asset, or at all).
    #[error("{0}")]
    Full(String),
}

/// The headers a part upload's URL signs, as they came with a part (the copy kept shows
/// them, so a test can check a client sent them with every part).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartHeaders {
    /// `Content-Type`, clipped.
    pub content_type: Option<String>,
    /// `x-amz-acl`, clipped.
    pub acl: Option<String>,
}

/// How a part's copy stands.
struct Part {
    /// The size asked for (real-time parts).
    expected: Option<u64>,
    /// Asked for as the final part (real-time).
    is_final: bool,
    /// Size of the copy kept, once one arrived whole.
    stored: Option<u64>,
    /// How many times it arrived whole.
    received_count: u32,
    /// Bytes written by receptions under way.
    receiving: Arc<AtomicU64>,
    /// The signed headers that came with the copy kept.
    headers: PartHeaders,
    /// Who sent the copy kept (for the per-client quota).
    uploader: Option<IpAddr>,
    /// The part's one reception at a time.
    slot: Arc<PartSlot>,
}

impl Part {
    fn new(expected: Option<u64>, is_final: bool) -> Self {
        Self {
            expected,
            is_final,
            stored: None,
            received_count: 0,
            receiving: Arc::default(),
            headers: PartHeaders::default(),
            uploader: None,
            slot: Arc::default(),
        }
    }
}

/// Where an asset's assembly stands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// Parts are missing, or their assembly is being checked.
    Pending,
    /// Every part arrived and they add up: the assembled content's SHA-256.
    Complete(String),
    /// Every part arrived but they do not add up (or could not be read back).
    Failed(String),
}

/// One asset.
struct Asset {
    id: String,
    client_id: String,
    name: String,
    filetype: String,
    created_via: CreatedVia,
    /// The `offset` sent, seconds.
    offset: Option<u64>,
    /// When the media was created by that offset, Unix milliseconds.
    recorded_at_unix_ms: u64,
    kind: Kind,
    parts: BTreeMap<u32, Part>,
    outcome: Outcome,
    comments: Vec<Comment>,
    /// Bumped whenever a part is stored, so a stale assembly is not recorded.
    generation: u64,
    /// The asset's folder of parts; removed with the asset.
    folder: TempDir,
    /// Cancelled when the asset is forgotten: its receptions under way stop writing.
    gone: CancellationToken,
}

impl Drop for Asset {
    fn drop(&mut self) {
        self.gone.cancel();
    }
}

/// What is known of an asset's size.
enum Kind {
    Normal {
        filesize: u64,
    },
    Realtime {
        extension_only: Option<String>,
        asset_filesize: Option<u64>,
    },
}

impl Asset {
    fn expected_total(&self) -> Option<u64> {
        match self.kind {
            Kind::Normal { filesize } => Some(filesize),
            Kind::Realtime { asset_filesize, .. } => asset_filesize,
        }
    }

    /// What the asset announced: its size, or the sizes of the real-time parts asked for.
    fn announced_bytes(&self) -> u64 {
        match self.kind {
            Kind::Normal { filesize } => filesize,
            Kind::Realtime { .. } => self
                .parts
                .values()
                .filter_map(|part| part.expected)
                .fold(0, u64::saturating_add),
        }
    }

    fn stored_bytes(&self) -> u64 {
        self.parts
            .values()
            .filter_map(|part| part.stored)
            .fold(0, u64::saturating_add)
    }

    /// Every part that must arrive has: all of a normal asset's; a real-time asset's final
    /// part and every part asked for below it.
    fn all_arrived(&self) -> bool {
        let announced_end = match self.kind {
            Kind::Normal { .. } => true,
            Kind::Realtime { .. } => self.parts.values().any(|part| part.is_final),
        };
        announced_end && self.parts.values().all(|part| part.stored.is_some())
    }

    /// The last part, which may be smaller than [`MIN_PART`].
    fn is_last(&self, number: u32) -> bool {
        match self.kind {
            Kind::Normal { .. } => self.parts.keys().next_back() == Some(&number),
            Kind::Realtime { .. } => self.parts.get(&number).is_some_and(|part| part.is_final),
        }
    }

    /// The check of the assembled parts, when every part is there.
    fn assembly(&self) -> Option<Assembly> {
        if !self.all_arrived() {
            return None;
        }
        let files = self
            .parts
            .keys()
            .map(|number| part_path(self.folder.path(), *number))
            .collect();
        Some(Assembly {
            asset_id: self.id.clone(),
            generation: self.generation,
            files,
        })
    }
}

/// What a part upload may write, handed out before its body is read.
pub struct Ticket {
    /// The most bytes the body may have.
    pub limit: u64,
    /// The asset's folder.
    pub folder: PathBuf,
    /// Counts the bytes of receptions under way, for the control API.
    pub receiving: Arc<AtomicU64>,
    /// The asset's MIME type, which its upload URLs sign as `Content-Type`.
    pub filetype: String,
    /// The part's one reception at a time.
    pub slot: Arc<PartSlot>,
    /// Cancelled when the asset is forgotten.
    pub gone: CancellationToken,
}

/// A check of an asset whose parts all arrived: hash `files` in order (blocking, see
/// [`super::part_files::assemble`]), then hand the result to [`Assets::record_assembly`].
#[derive(Debug)]
pub struct Assembly {
    /// The asset.
    pub asset_id: String,
    /// Which state of the asset this checks.
    pub generation: u64,
    /// The part files in number order.
    pub files: Vec<PathBuf>,
}

/// Assets forgotten to make room; drop them off the async threads (their folders are
/// removed then).
#[must_use = "forgotten assets remove their folders when dropped"]
#[derive(Default)]
pub struct Evicted(Vec<Asset>);

impl Evicted {
    /// True when nothing was forgotten.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds what else was forgotten.
    pub fn extend(&mut self, more: Self) {
        self.0.extend(more.0);
    }
}

/// One part as the control API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct PartView {
    /// Part number.
    pub number: u32,
    /// The size asked for, when known (real-time parts).
    pub size: Option<u64>,
    /// Size of the copy kept (0 before one arrived whole).
    pub received_bytes: u64,
    /// How many times the part arrived whole.
    pub received_count: u32,
    /// Bytes written so far by receptions under way.
    pub receiving_bytes: u64,
    /// The `Content-Type` that came with the copy kept (`None`: none, or no copy yet).
    pub content_type: Option<String>,
    /// The `x-amz-acl` that came with the copy kept (`None`: none, or no copy yet).
    pub acl: Option<String>,
}

/// An asset as the control API shows it (`GET /_control/assets`).
#[derive(Debug, Clone, Serialize)]
pub struct AssetView {
    /// Asset id.
    pub id: String,
    /// The uploading device.
    pub client_id: String,
    /// Asset name.
    pub name: String,
    /// MIME type.
    pub filetype: String,
    /// Announced size (normal assets; `None` for real-time ones).
    pub filesize: Option<u64>,
    /// A real-time asset's size, once given.
    pub asset_filesize: Option<u64>,
    /// Created as a real-time upload.
    pub realtime: bool,
    /// `devices` or `legacy`.
    pub created_via: CreatedVia,
    /// The `offset` sent with the asset, seconds (`None` when not sent).
    pub offset: Option<u64>,
    /// When the media was created by that offset (now minus offset), Unix seconds.
    pub recorded_at_unix: f64,
    /// Every part arrived and they assemble to the announced size.
    pub complete: bool,
    /// Bytes of the parts kept.
    pub received_bytes: u64,
    /// SHA-256 (hex) of the assembled content, once complete.
    pub sha256: Option<String>,
    /// Why the parts do not make the asset, when they all arrived and do not.
    pub error: Option<String>,
    /// Bytes kept per part, in number order (`None` while a part has not arrived).
    pub received: Vec<Option<u64>>,
    /// The parts, in number order.
    pub parts: Vec<PartView>,
    /// Comments from the device, oldest first.
    pub comments: Vec<Comment>,
}

/// Every asset, oldest first, within [`MAX_ASSETS`] and [`MAX_ASSET_PARTS`].
#[derive(Default)]
pub struct Assets {
    list: Vec<Asset>,
    /// Bytes of comment text kept, within [`comments::TOTAL_BYTES`].
    comment_bytes: usize,
}

impl Assets {
    /// How many assets are remembered.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    fn find(&self, id: &str) -> Option<&Asset> {
        self.list.iter().find(|asset| asset.id == id)
    }

    fn find_mut(&mut self, id: &str) -> Option<&mut Asset> {
        self.list.iter_mut().find(|asset| asset.id == id)
    }

    /// True when the asset exists and belongs to `client_id`.
    pub fn belongs_to(&self, id: &str, client_id: &str) -> bool {
        self.find(id)
            .is_some_and(|asset| asset.client_id == client_id)
    }

    /// Remembers a new asset (its announcement already checked) whose media was created at
    /// `recorded_at_unix_ms`, forgetting the oldest if needed; returns its name (a real-time
    /// asset announced by its extension alone is named after its id until renamed) and the
    /// assets forgotten.
    pub fn create(
        &mut self,
        id: String,
        client_id: &str,
        announcement: Announcement,
        recorded_at_unix_ms: u64,
        folder: TempDir,
    ) -> (String, Evicted) {
        let name = match &announcement.kind {
            Announced::Realtime {
                extension_only: Some(extension),
            } => format!("{id}{extension}"),
            _ => announcement.name,
        };
        let announced = match announcement.kind {
            Announced::Normal { filesize, .. } => filesize,
            Announced::Realtime { .. } => 0,
        };
        let (kind, parts) = match announcement.kind {
            Announced::Normal { filesize, parts } => {
                let parts = (1..=parts).map(|n| (n, Part::new(None, false))).collect();
                (Kind::Normal { filesize }, parts)
            }
            Announced::Realtime { extension_only } => (
                Kind::Realtime {
                    extension_only,
                    asset_filesize: None,
                },
                BTreeMap::new(),
            ),
        };
        let evicted = self.make_room(parts.len(), announced, None);
        self.list.push(Asset {
            id,
            client_id: client_id.to_owned(),
            name: name.clone(),
            filetype: announcement.filetype,
            created_via: announcement.created_via,
            offset: announcement.offset,
            recorded_at_unix_ms,
            kind,
            parts,
            outcome: Outcome::Pending,
            comments: Vec::new(),
            generation: 0,
            folder,
            gone: CancellationToken::new(),
        });
        (name, evicted)
    }

    /// What a body for part `number` of asset `id` may be, before it is read: at most what
    /// is left of a normal asset, or the size asked for of a real-time part (and never more
    /// than S3's largest part), with a little slack so that a slightly wrong part is answered
    /// with the size check's clear message; `None` for an unknown asset or part.
    pub fn ticket(&self, id: &str, number: u32) -> Option<Ticket> {
        let asset = self.find(id)?;
        let part = asset.parts.get(&number)?;
        let room = match (&asset.kind, part.expected) {
            (_, Some(expected)) => expected,
            (Kind::Normal { filesize }, None) => {
                let others = asset
                    .parts
                    .iter()
                    .filter(|(n, _)| **n != number)
                    .filter_map(|(_, part)| part.stored)
                    .fold(0, u64::saturating_add);
                filesize.saturating_sub(others)
            }
            (Kind::Realtime { .. }, None) => MAX_PART,
        };
        Some(Ticket {
            limit: room.min(MAX_PART).saturating_add(PART_SLACK),
            folder: asset.folder.path().to_owned(),
            receiving: Arc::clone(&part.receiving),
            filetype: asset.filetype.clone(),
            slot: Arc::clone(&part.slot),
            gone: asset.gone.clone(),
        })
    }

    /// Keeps a part that arrived whole (`size` bytes, with `headers`, sent `from`): checks
    /// it like S3 would, has `keep` move its file into place (replacing an earlier copy), and
    /// counts it. When every part is then there, the assembly to check.
    pub fn store_part(
        &mut self,
        (id, number): (&str, u32),
        (size, headers, from): (u64, PartHeaders, Option<IpAddr>),
        keep: impl FnOnce(&std::path::Path) -> std::io::Result<()>,
    ) -> Result<Option<Assembly>, PartRefused> {
        let asset = self.find_mut(id).ok_or(PartRefused::Unknown)?;
        if !asset.parts.contains_key(&number) {
            return Err(PartRefused::Unknown);
        }
        if !asset.is_last(number) && size < MIN_PART {
            return Err(PartRefused::Invalid(format!(
                "part {number} is {size} bytes; every part but the last needs at least 5 MiB \
                 (5242880 bytes)"
            )));
        }
        keep(&part_path(asset.folder.path(), number)).map_err(|error| {
            PartRefused::Invalid(format!("part {number} was not kept: {error}"))
        })?;
        let part = asset.parts.get_mut(&number).ok_or(PartRefused::Unknown)?;
        part.stored = Some(size);
        part.headers = headers;
        part.uploader = from;
        part.received_count = part.received_count.saturating_add(1);
        asset.generation = asset.generation.wrapping_add(1);
        asset.outcome = Outcome::Pending;
        Ok(asset.assembly())
    }

    /// Asks for real-time parts of `client_id`'s asset `id`: checks the request against S3's
    /// rules and what was asked before (see [`super::realtime`]), records the parts and sizes
    /// (a part asked for again may change size), renames an asset created by extension. When
    /// every part is then there already, the assembly to check; and the assets forgotten to
    /// make room for the new parts.
    pub fn ask_realtime_parts(
        &mut self,
        id: &str,
        client_id: &str,
        request: &PartsRequest,
    ) -> Result<(Vec<u32>, Option<Assembly>, Evicted), PartsRefused> {
        let unknown = || PartsRefused::Unknown(id.to_owned());
        let asset = self
            .find(id)
            .filter(|asset| asset.client_id == client_id)
            .ok_or_else(unknown)?;
        let Kind::Realtime {
            extension_only,
            asset_filesize,
        } = &asset.kind
        else {
            return Err(PartsRefused::NotRealtime(id.to_owned()));
        };
        let so_far = SoFar {
            asked: asset
                .parts
                .iter()
                .map(|(number, part)| (*number, (part.expected.unwrap_or(0), part.is_final)))
                .collect(),
            asset_filesize: *asset_filesize,
            extension_only: extension_only.as_deref(),
        };
        let plan = realtime::plan(request, &so_far).map_err(PartsRefused::Invalid)?;
        let new_parts = plan
            .parts
            .iter()
            .filter(|(number, ..)| !asset.parts.contains_key(number))
            .count();
        let mut announced: BTreeMap<u32, u64> = so_far
            .asked
            .iter()
            .map(|(number, (size, _))| (*number, *size))
            .collect();
        announced.extend(plan.parts.iter().map(|&(number, size, _)| (number, size)));
        let now = announced
            .values()
            .fold(0, |sum: u64, size| sum.saturating_add(*size));
        if now > MAX_HELD_BYTES {
            return Err(PartsRefused::Invalid(format!(
                "the parts asked for add up to {now} bytes; the demo server keeps at most \
                 {MAX_HELD_BYTES} bytes (32 GiB) of media"
            )));
        }
        let more = now.saturating_sub(asset.announced_bytes());
        let evicted = self.make_room(new_parts, more, Some(id));
        let asset = self.find_mut(id).ok_or_else(unknown)?;
        for &(number, size, is_final) in &plan.parts {
            let part = asset
                .parts
                .entry(number)
                .or_insert_with(|| Part::new(None, false));
            part.expected = Some(size);
            part.is_final = is_final;
        }
        if let Kind::Realtime { asset_filesize, .. } = &mut asset.kind {
            *asset_filesize = plan.asset_filesize;
        }
        if let Some(name) = plan.rename {
            asset.name = name;
        }
        asset.generation = asset.generation.wrapping_add(1);
        asset.outcome = Outcome::Pending;
        let numbers = plan.parts.iter().map(|(number, ..)| *number).collect();
        Ok((numbers, asset.assembly(), evicted))
    }

    /// Keeps a comment on `client_id`'s asset `id`, made at `inserted_at`; the comment as
    /// kept.
    pub fn comment(
        &mut self,
        id: &str,
        client_id: &str,
        comment: NewComment,
        comment_id: String,
        inserted_at: String,
    ) -> Result<Comment, CommentRefused> {
        let room = comments::TOTAL_BYTES.saturating_sub(self.comment_bytes);
        let asset = self
            .list
            .iter_mut()
            .find(|asset| asset.id == id && asset.client_id == client_id)
            .ok_or_else(|| CommentRefused::Unknown(id.to_owned()))?;
        if asset.comments.len() >= comments::PER_ASSET {
            return Err(CommentRefused::Full(format!(
                "this asset has {} comments, as many as the demo server keeps on one asset",
                comments::PER_ASSET
            )));
        }
        if comment.text.len() > room {
            return Err(CommentRefused::Full(
                "the demo server keeps no more comments; restart it to start afresh".into(),
            ));
        }
        let kept = Comment {
            id: comment_id,
            text: comment.text,
            timestamp: comment.timestamp,
            inserted_at,
        };
        self.comment_bytes = self.comment_bytes.saturating_add(kept.text.len());
        asset.comments.push(kept.clone());
        Ok(kept)
    }

    /// Records what an assembly found: `Ok((size, sha256))` of the assembled parts, or why
    /// they could not be read. Ignored when a part changed since (a newer check follows) or
    /// the asset was forgotten.
    pub fn record_assembly(&mut self, assembly: &Assembly, found: std::io::Result<(u64, String)>) {
        let Some(asset) = self.find_mut(&assembly.asset_id) else {
            return;
        };
        if asset.generation != assembly.generation {
            return;
        }
        let expected = asset.expected_total();
        asset.outcome = match found {
            Ok((size, sha256)) if Some(size) == expected => Outcome::Complete(sha256),
            Ok((size, _)) => Outcome::Failed(match expected {
                Some(expected) => format!(
                    "the parts add up to {size} bytes; the asset was announced as {expected} \
                     bytes"
                ),
                None => format!("the parts add up to {size} bytes; no asset size was given"),
            }),
            Err(error) => Outcome::Failed(format!("the parts could not be read back: {error}")),
        };
    }

    /// Bytes of every part kept, or of those sent by `who` (`None`: by anyone).
    pub fn stored_bytes(&self, who: Option<Counted>) -> u64 {
        self.list
            .iter()
            .flat_map(|asset| asset.parts.values())
            .filter(|part| match who {
                None => true,
                Some(who) => part.uploader.is_some_and(|ip| who.covers(ip)),
            })
            .filter_map(|part| part.stored)
            .fold(0, u64::saturating_add)
    }

    /// Forgets the oldest asset other than `keep` (to make room on disk), if there is one.
    pub fn evict_oldest(&mut self, keep: &str) -> Option<Evicted> {
        let index = self.list.iter().position(|asset| asset.id != keep)?;
        let asset = self.list.remove(index);
        let text: usize = asset.comments.iter().map(|c| c.text.len()).sum();
        self.comment_bytes = self.comment_bytes.saturating_sub(text);
        Some(Evicted(vec![asset]))
    }

    /// Every asset as the control API shows it, oldest first.
    pub fn views(&self) -> Vec<AssetView> {
        self.list.iter().map(view).collect()
    }

    /// Below the asset caps (count, parts, announced bytes) for `parts` more parts and `bytes`
    /// more announced bytes, forgetting the oldest assets other than `keep` (`None`: a new
    /// asset arrives).
    fn make_room(&mut self, parts: usize, bytes: u64, keep: Option<&str>) -> Evicted {
        let mut held: usize = self.list.iter().map(|a| a.parts.len()).sum();
        let mut held_bytes = self
            .list
            .iter()
            .map(Asset::announced_bytes)
            .fold(0, u64::saturating_add);
        let arriving = usize::from(keep.is_none());
        let mut evicted = Vec::new();
        let mut index = 0;
        while index < self.list.len()
            && (self.list.len().saturating_add(arriving) > MAX_ASSETS
                || held.saturating_add(parts) > MAX_ASSET_PARTS
                || held_bytes.saturating_add(bytes) > MAX_HELD_BYTES)
        {
            if keep == Some(self.list[index].id.as_str()) {
                index += 1;
                continue;
            }
            let asset = self.list.remove(index);
            held = held.saturating_sub(asset.parts.len());
            held_bytes = held_bytes.saturating_sub(asset.announced_bytes());
            let text: usize = asset.comments.iter().map(|c| c.text.len()).sum();
            self.comment_bytes = self.comment_bytes.saturating_sub(text);
            evicted.push(asset);
        }
        Evicted(evicted)
    }
}

fn view(asset: &Asset) -> AssetView {
    let (filesize, asset_filesize, realtime) = match asset.kind {
        Kind::Normal { filesize } => (Some(filesize), None, false),
        Kind::Realtime { asset_filesize, .. } => (None, asset_filesize, true),
    };
    let (sha256, error) = match &asset.outcome {
        Outcome::Pending => (None, None),
        Outcome::Complete(sha) => (Some(sha.clone()), None),
        Outcome::Failed(why) => (None, Some(why.clone())),
    };
    let parts = asset
        .parts
        .iter()
        .map(|(number, part)| PartView {
            number: *number,
            size: part.expected,
            received_bytes: part.stored.unwrap_or(0),
            received_count: part.received_count,
            receiving_bytes: part.receiving.load(Ordering::Relaxed),
            content_type: part.headers.content_type.clone(),
            acl: part.headers.acl.clone(),
        })
        .collect();
    AssetView {
        id: asset.id.clone(),
        client_id: asset.client_id.clone(),
        name: asset.name.clone(),
        filetype: asset.filetype.clone(),
        filesize,
        asset_filesize,
        realtime,
        created_via: asset.created_via,
        offset: asset.offset,
        recorded_at_unix: std::time::Duration::from_millis(asset.recorded_at_unix_ms).as_secs_f64(),
        complete: sha256.is_some(),
        received_bytes: asset.stored_bytes(),
        sha256,
        error,
        received: asset.parts.values().map(|part| part.stored).collect(),
        parts,
        comments: asset.comments.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::part_files::PartFiles;

    fn normal(filesize: u64, parts: u32) -> Announcement {
        Announcement {
            name: "clip.mp4".into(),
            filetype: "video/mp4".into(),
            created_via: CreatedVia::Devices,
            kind: Announced::Normal { filesize, parts },
            offset: None,
        }
    }

    const MIB: u64 = 1024 * 1024;

    #[test]
    fn a_part_may_carry_at_most_what_is_left_of_its_asset() {
        let files = PartFiles::new().unwrap();
        let mut assets = Assets::default();
        let (_, evicted) = assets.create(
            "a".into(),
            "CAM",
            normal(12 * MIB, 2),
            0,
            files.asset_folder().unwrap(),
        );
        assert!(evicted.is_empty());
        let limit = |assets: &Assets, n| assets.ticket("a", n).map(|t| t.limit);
        assert_eq!(limit(&assets, 1), Some(12 * MIB + PART_SLACK));
        let kept = assets
            .store_part(
                ("a", 1),
                (8 * MIB, PartHeaders::default(), None),
                |_| Ok(()),
            )
            .unwrap();
        assert!(kept.is_none(), "part 2 is missing");
        assert_eq!(limit(&assets, 2), Some(4 * MIB + PART_SLACK));
        assert_eq!(limit(&assets, 3), None);
        assert!(assets.ticket("no-such-asset", 1).is_none());
    }

    #[test]
    fn parts_are_counted_and_the_assembly_decides_completeness() {
        let files = PartFiles::new().unwrap();
        let mut assets = Assets::default();
        let _ = assets.create(
            "a".into(),
            "CAM",
            normal(6 * MIB, 2),
            0,
            files.asset_folder().unwrap(),
        );
        assert_eq!(
            assets
                .store_part(("a", 1), (MIB, PartHeaders::default(), None), |_| Ok(()))
                .err(),
            Some(PartRefused::Invalid(
                "part 1 is 1048576 bytes; every part but the last needs at least 5 MiB \
                 (5242880 bytes)"
                    .into()
            ))
        );
        assert!(
            assets
                .store_part(("a", 2), (MIB, PartHeaders::default(), None), |_| Ok(()))
                .unwrap()
                .is_none()
        );
        let first = assets
            .store_part(
                ("a", 1),
                (5 * MIB, PartHeaders::default(), None),
                |_| Ok(()),
            )
            .unwrap()
            .unwrap();
        // Sent again before the first check was recorded: only the newest check counts.
        let second = assets
            .store_part(
                ("a", 1),
                (5 * MIB, PartHeaders::default(), None),
                |_| Ok(()),
            )
            .unwrap()
            .unwrap();
        assets.record_assembly(&first, Ok((6 * MIB, "stale".into())));
        assert!(!assets.views()[0].complete);
        assets.record_assembly(&second, Ok((6 * MIB, "abc".into())));
        let view = &assets.views()[0];
        assert!(view.complete);
        assert_eq!(view.sha256.as_deref(), Some("abc"));
        assert_eq!(view.parts[0].received_count, 2);
        assert_eq!(view.parts[1].received_count, 1);
        assert_eq!(view.received_bytes, 6 * MIB);
        // A wrong total is the asset's error.
        let third = assets
            .store_part(
                ("a", 2),
                (MIB - 1, PartHeaders::default(), None),
                |_| Ok(()),
            )
            .unwrap()
            .unwrap();
        assets.record_assembly(&third, Ok((6 * MIB - 1, "x".into())));
        let view = &assets.views()[0];
        assert!(!view.complete);
        assert_eq!(view.sha256, None);
        assert!(
            view.error
                .as_deref()
                .unwrap()
                .contains("announced as 6291456"),
            "{view:?}"
        );
    }

    #[test]
    fn the_oldest_assets_make_way_and_take_their_folders() {
        let files = PartFiles::new().unwrap();
        let mut assets = Assets::default();
        let first = files.asset_folder().unwrap();
        let first_path = first.path().to_owned();
        let _ = assets.create("first".into(), "CAM", normal(MIB, 1), 0, first);
        for n in 1..MAX_ASSETS {
            let folder = files.asset_folder().unwrap();
            assert!(
                assets
                    .create(n.to_string(), "CAM", normal(MIB, 1), 0, folder)
                    .1
                    .is_empty()
            );
        }
        let folder = files.asset_folder().unwrap();
        let (_, evicted) = assets.create("last".into(), "CAM", normal(MIB, 1), 0, folder);
        assert_eq!(assets.len(), MAX_ASSETS);
        assert!(assets.find("first").is_none());
        assert!(first_path.exists(), "removed only when dropped");
        drop(evicted);
        assert!(!first_path.exists());
    }

    #[test]
    fn comments_go_on_a_devices_own_assets_within_bounds() {
        let files = PartFiles::new().unwrap();
        let mut assets = Assets::default();
        let _ = assets.create(
            "a".into(),
            "CAM",
            normal(MIB, 1),
            0,
            files.asset_folder().unwrap(),
        );
        let say = |text: &str| NewComment {
            text: text.into(),
            timestamp: None,
        };
        let comment = |assets: &mut Assets, client: &str, text: &str| {
            assets.comment("a", client, say(text), "id".into(), "now".into())
        };
        assert_eq!(
            comment(&mut assets, "OTHER", "hi"),
            Err(CommentRefused::Unknown("a".into()))
        );
        for _ in 0..comments::PER_ASSET {
            comment(&mut assets, "CAM", "hi").unwrap();
        }
        assert!(matches!(
            comment(&mut assets, "CAM", "one more"),
            Err(CommentRefused::Full(_))
        ));
        assert_eq!(assets.views()[0].comments.len(), comments::PER_ASSET);
        assert_eq!(assets.comment_bytes, 2 * comments::PER_ASSET);
    }

    #[test]
    fn the_bytes_announced_stay_within_the_disk_budget() {
        let files = PartFiles::new().unwrap();
        let mut assets = Assets::default();
        let ten_gib = 10 * 1024 * MIB;
        for name in ["a", "b", "c"] {
            let folder = files.asset_folder().unwrap();
            let (_, evicted) = assets.create(name.into(), "CAM", normal(ten_gib, 2), 0, folder);
            assert!(evicted.is_empty());
        }
        // 30 GiB held: a 10 GiB asset more makes the oldest go.
        let folder = files.asset_folder().unwrap();
        let (_, evicted) = assets.create("d".into(), "CAM", normal(ten_gib, 2), 0, folder);
        assert!(!evicted.is_empty());
        assert!(assets.find("a").is_none() && assets.find("b").is_some());
        // A real-time asset's parts count as they are asked for.
        let live = Announcement {
            kind: Announced::Realtime {
                extension_only: None,
            },
            ..normal(1, 1)
        };
        let _ = assets.create("live".into(), "CAM", live, 0, files.asset_folder().unwrap());
        let ask = |sizes: &[u64]| PartsRequest {
            parts: sizes
                .iter()
                .enumerate()
                .map(|(i, size)| realtime::AskedPart {
                    number: i as u64 + 1,
                    size: *size,
                    is_final: false,
                })
                .collect(),
            asset_name: None,
            asset_filesize: None,
        };
        let (_, _, evicted) = assets
            .ask_realtime_parts("live", "CAM", &ask(&[5 * 1024 * MIB; 2]))
            .unwrap();
        assert!(!evicted.is_empty());
        assert!(assets.find("b").is_none() && assets.find("live").is_some());
        let too_much = ask(&[5 * 1024 * MIB; 7]);
        assert!(matches!(
            assets.ask_realtime_parts("live", "CAM", &too_much),
            Err(PartsRefused::Invalid(why)) if why.contains("32 GiB")
        ));
    }
}
