//! Real-time upload parts (spec §3.7): a device asks for part URLs while its file grows.
//!
//! The spec quotes Amazon S3's multipart upload rules for these parts, and the demo server
//! follows them: part numbers 1 to 10 000, every part but the final one at least 5 MiB, a part
//! at most 5 GiB, an asset at most 5 TiB. Frame.io adds its own: `asset_filesize` is required
//! once a part is final, and no part may come after the final one.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::limits::{ASSET_NAME_CHARS, MAX_OBJECT, MAX_PART, MAX_PARTS, MIN_PART};

/// The body of `POST /v2/devices/assets/{id}/realtime_upload/parts`.
#[derive(Debug, Clone, Deserialize)]
pub struct PartsRequest {
    /// The parts wanted, each answered with an upload URL in this order.
    pub parts: Vec<AskedPart>,
    /// A new name, for an asset created with an extension only.
    #[serde(default)]
    pub asset_name: Option<String>,
    /// The asset's size; required once a part is final.
    #[serde(default)]
    pub asset_filesize: Option<u64>,
}

/// One part asked for.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct AskedPart {
    /// Part number (1 to 10 000; may skip, any order; parts are joined by number).
    pub number: u64,
    /// Its size in bytes.
    pub size: u64,
    /// The last part of the asset.
    #[serde(default)]
    pub is_final: bool,
}

/// What a real-time asset already has, for checking a request.
#[derive(Debug, Default)]
pub struct SoFar<'a> {
    /// The parts asked for before: number → (size, final).
    pub asked: BTreeMap<u32, (u64, bool)>,
    /// The size given before.
    pub asset_filesize: Option<u64>,
    /// The extension, when the asset was created without a name.
    pub extension_only: Option<&'a str>,
}

/// A request that follows the rules, as it changes the asset.
#[derive(Debug, PartialEq, Eq)]
pub struct Plan {
    /// The parts, in request order: (number, size, final).
    pub parts: Vec<(u32, u64, bool)>,
    /// The asset's size from now on.
    pub asset_filesize: Option<u64>,
    /// The asset's new name, when it is renamed.
    pub rename: Option<String>,
}

/// Checks a parts request against S3's rules and what the asset already has; a clear message
/// when it breaks one.
pub fn plan(request: &PartsRequest, so_far: &SoFar<'_>) -> Result<Plan, String> {
    let parts = checked_parts(&request.parts)?;
    let mut merged = so_far.asked.clone();
    merged.extend(
        parts
            .iter()
            .map(|&(number, size, is_final)| (number, (size, is_final))),
    );
    let final_part = checked_final(&so_far.asked, &merged)?;
    if let Some(size) = request.asset_filesize
        && size > MAX_OBJECT
    {
        return Err(format!(
            "asset_filesize is {size} bytes; an asset is at most 5 TiB ({MAX_OBJECT} bytes)"
        ));
    }
    let asset_filesize = request.asset_filesize.or(so_far.asset_filesize);
    if let Some(final_part) = final_part {
        let Some(total) = asset_filesize else {
            return Err(format!(
                "asset_filesize is required once a part is final (part {final_part} is)"
            ));
        };
        let asked_total = merged
            .values()
            .map(|(size, _)| *size)
            .fold(0_u64, u64::saturating_add);
        if asked_total > total {
            return Err(format!(
                "the parts asked for add up to {asked_total} bytes, more than asset_filesize \
                 ({total} bytes)"
            ));
        }
    }
    let rename = match (&request.asset_name, so_far.extension_only) {
        (Some(name), Some(extension)) => Some(checked_rename(name, extension)?),
        // Only an asset created with an extension alone is renamed (spec §3.7).
        _ => None,
    };
    Ok(Plan {
        parts,
        asset_filesize,
        rename,
    })
}

/// Each part on its own: number, size, no number twice.
fn checked_parts(asked: &[AskedPart]) -> Result<Vec<(u32, u64, bool)>, String> {
    if asked.is_empty() {
        return Err("parts is empty: ask for at least one part".into());
    }
    let mut parts = Vec::with_capacity(asked.len());
    let mut seen = std::collections::BTreeSet::new();
    for part in asked {
        let number = u32::try_from(part.number)
            .ok()
            .filter(|n| (1..=MAX_PARTS).contains(n))
            .ok_or_else(|| {
                format!(
                    "part number {} is out of range: parts are numbered 1 to {MAX_PARTS}",
                    part.number
                )
            })?;
        if !seen.insert(number) {
            return Err(format!("part {number} is asked for twice in one request"));
        }
        if part.size == 0 {
            return Err(format!(
                "part {number} has size 0: a part carries at least one byte"
            ));
        }
        if part.size > MAX_PART {
            return Err(format!(
                "part {number} is {} bytes; a part is at most 5 GiB ({MAX_PART} bytes)",
                part.size
            ));
        }
        if !part.is_final && part.size < MIN_PART {
            return Err(format!(
                "part {number} is {} bytes; every part but the final one needs at least 5 MiB \
                 ({MIN_PART} bytes)",
                part.size
            ));
        }
        parts.push((number, part.size, part.is_final));
    }
    Ok(parts)
}

/// The final part once `merged` (what was asked before, updated by this request) is in force:
/// at most one, the same as before if there was one, and no part after it.
fn checked_final(
    before: &BTreeMap<u32, (u64, bool)>,
    merged: &BTreeMap<u32, (u64, bool)>,
) -> Result<Option<u32>, String> {
    let finals: Vec<u32> = merged
        .iter()
        .filter(|(_, (_, is_final))| *is_final)
        .map(|(number, _)| *number)
        .collect();
    let previous = before
        .iter()
        .find(|(_, (_, is_final))| *is_final)
        .map(|(number, _)| *number);
    if let Some(previous) = previous
        && !finals.contains(&previous)
    {
        return Err(format!(
            "part {previous} was asked for as the final part; ask for it again with \
             is_final: true"
        ));
    }
    if finals.len() > 1 {
        let numbers: Vec<String> = finals.iter().map(u32::to_string).collect();
        return Err(format!(
            "only one part can be final, and parts {} are",
            numbers.join(" and ")
        ));
    }
    let final_part = finals.first().copied();
    if let Some(final_part) = final_part
        && let Some(beyond) = merged.keys().copied().find(|number| *number > final_part)
    {
        return Err(format!(
            "part {beyond} comes after part {final_part}, the final part: no part may follow \
             the final one"
        ));
    }
    Ok(final_part)
}

fn checked_rename(name: &str, extension: &str) -> Result<String, String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > ASSET_NAME_CHARS {
        return Err(format!(
            "asset_name must be 1 to {ASSET_NAME_CHARS} characters"
        ));
    }
    if !extension_of(name).is_some_and(|own| own.eq_ignore_ascii_case(extension)) {
        return Err(format!(
            "asset_name {name:?} must end with {extension}, the extension the asset was \
             created with"
        ));
    }
    Ok(name.to_owned())
}

/// A name's extension with its dot (`"clip.mp4"` → `".mp4"`); none for `"clip"`, `".mp4"`
/// or `"clip."`.
pub fn extension_of(name: &str) -> Option<&str> {
    let dot = name.rfind('.')?;
    (dot > 0 && dot + 1 < name.len()).then(|| &name[dot..])
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    fn request(parts: &[(u64, u64, bool)], asset_filesize: Option<u64>) -> PartsRequest {
        PartsRequest {
            parts: parts
                .iter()
                .map(|&(number, size, is_final)| AskedPart {
                    number,
                    size,
                    is_final,
                })
                .collect(),
            asset_name: None,
            asset_filesize,
        }
    }

    fn refused(parts: &[(u64, u64, bool)], size: Option<u64>, so_far: &SoFar<'_>) -> String {
        plan(&request(parts, size), so_far).unwrap_err()
    }

    #[test]
    fn parts_follow_s3s_rules() {
        let fresh = SoFar::default();
        let ok = plan(
            &request(&[(2, 5 * MIB, false), (1, 5 * MIB, false)], None),
            &fresh,
        );
        assert_eq!(
            ok.unwrap().parts,
            vec![(2, 5 * MIB, false), (1, 5 * MIB, false)],
            "request order"
        );
        assert!(refused(&[], None, &fresh).contains("at least one part"));
        assert!(refused(&[(0, 5 * MIB, false)], None, &fresh).contains("1 to 10000"));
        assert!(refused(&[(10_001, 5 * MIB, false)], None, &fresh).contains("1 to 10000"));
        assert!(refused(&[(1, 5 * MIB - 1, false)], None, &fresh).contains("at least 5 MiB"));
        assert!(refused(&[(1, 5 * 1024 * MIB + 1, false)], None, &fresh).contains("5 GiB"));
        assert!(refused(&[(1, 0, true)], Some(0), &fresh).contains("at least one byte"));
        assert!(
            refused(&[(1, 5 * MIB, false), (1, 5 * MIB, false)], None, &fresh).contains("twice")
        );
        // A final part may be small, but needs the asset's size, within 5 TiB.
        assert!(refused(&[(1, 10, true)], None, &fresh).contains("asset_filesize is required"));
        assert!(refused(&[(1, 10, true)], Some(MAX_OBJECT + 1), &fresh).contains("5 TiB"));
        assert!(plan(&request(&[(1, 10, true)], Some(10)), &fresh).is_ok());
        assert!(refused(&[(1, 10, true)], Some(9), &fresh).contains("more than asset_filesize"));
        assert!(
            refused(&[(1, 10, true), (2, 10, true)], Some(20), &fresh).contains("only one part")
        );
        assert!(
            refused(
                &[(3, 10, true), (4, 5 * MIB, false)],
                Some(MAX_OBJECT),
                &fresh
            )
            .contains("no part may follow")
        );
    }

    #[test]
    fn what_was_asked_before_counts() {
        let mut asked = BTreeMap::new();
        asked.insert(1, (5 * MIB, false));
        asked.insert(3, (10, true));
        let so_far = SoFar {
            asked,
            asset_filesize: Some(5 * MIB + 10 + 5 * MIB),
            extension_only: None,
        };
        // Part 2, skipped before, may still come; the size given before holds.
        let ok = plan(&request(&[(2, 5 * MIB, false)], None), &so_far).unwrap();
        assert_eq!(ok.asset_filesize, Some(10 * MIB + 10));
        assert!(refused(&[(4, 5 * MIB, false)], None, &so_far).contains("no part may follow"));
        assert!(refused(&[(2, 5, true)], None, &so_far).contains("only one part"));
        assert!(refused(&[(3, 5 * MIB, false)], None, &so_far).contains("ask for it again"));
        // The final part asked for again (a resend) is fine.
        assert!(plan(&request(&[(3, 10, true)], None), &so_far).is_ok());
    }

    #[test]
    fn only_an_asset_created_by_extension_is_renamed() {
        let by_extension = SoFar {
            extension_only: Some(".mp4"),
            ..SoFar::default()
        };
        let mut renaming = request(&[(1, 5 * MIB, false)], None);
        renaming.asset_name = Some("A001.MP4".into());
        let plan_of = |so_far: &SoFar<'_>| plan(&renaming, so_far);
        assert_eq!(
            plan_of(&by_extension).unwrap().rename.as_deref(),
            Some("A001.MP4")
        );
        assert_eq!(plan_of(&SoFar::default()).unwrap().rename, None);
        renaming.asset_name = Some("A001.mov".into());
        assert!(
            plan(&renaming, &by_extension)
                .unwrap_err()
                .contains("must end with .mp4")
        );
    }
}
