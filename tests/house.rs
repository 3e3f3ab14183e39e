//! The house rule, kept by CI: the files of one folder under `src/` never import each other
//! in a circle. A file imports a sibling by naming it (`super::sibling`, `crate::a::sibling`)
//! or by naming something the folder's `mod.rs` re-exports from it (`super::Name`); `mod.rs`
//! itself stands aside (it declares the room). Tests (`#[cfg(test)]` onwards) are left out.
//!
//! The same reading as `../shared/tools/circles.py`, kept here so that a clean checkout
//! checks it too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`, with its text.
fn sources(dir: &Path, found: &mut BTreeMap<PathBuf, String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.insert(path.clone(), std::fs::read_to_string(&path).unwrap());
        }
    }
}

/// The code of a file: comments out, tests out.
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or_default();
    text.lines()
        .map(|line| line.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Identifiers in `text` (words of letters, digits and `_`).
fn words(text: &str) -> Vec<&str> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .collect()
}

/// The file of module `name` in `folder`, if it is one.
fn module(folder: &Path, name: &str, files: &BTreeMap<PathBuf, String>) -> Option<PathBuf> {
    [
        folder.join(format!("{name}.rs")),
        folder.join(name).join("mod.rs"),
    ]
    .into_iter()
    .find(|candidate| files.contains_key(candidate))
}

/// What comes after each `prefix` in `text`: a `{…}` list or one path.
fn after<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(prefix) {
        let tail = &rest[at + prefix.len()..];
        let end = if tail.starts_with('{') {
            tail.find('}').map_or(tail.len(), |e| e + 1)
        } else {
            tail.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(tail.len())
        };
        found.push(&tail[..end]);
        rest = &tail[end..];
    }
    found
}

/// Names a folder's `mod.rs` re-exports from its own files (`pub use fleet::{A, B}`).
fn reexports(folder: &Path, files: &BTreeMap<PathBuf, String>) -> HashMap<String, PathBuf> {
    let mut names = HashMap::new();
    let Some(text) = files.get(&folder.join("mod.rs")) else {
        return names;
    };
    for statement in code(text).split(';') {
        let Some(used) = statement.trim().strip_prefix("pub use ") else {
            continue;
        };
        let used = used.trim_start_matches("self::");
        let Some((first, rest)) = used.split_once("::") else {
            continue;
        };
        let Some(file) = module(folder, first, files) else {
            continue;
        };
        for name in words(rest) {
            names.entry(name.to_owned()).or_insert_with(|| file.clone());
        }
    }
    names
}

/// Each file's imports of files in its own folder (`mod.rs` aside).
fn edges(src: &Path, files: &BTreeMap<PathBuf, String>) -> BTreeMap<PathBuf, BTreeSet<PathBuf>> {
    let mut edges = BTreeMap::new();
    for (file, text) in files {
        let folder = file.parent().unwrap();
        let shared = reexports(folder, files);
        let text = code(text);
        let mut targets = BTreeSet::new();
        for used in after(&text, "super::") {
            for name in words(used) {
                if let Some(target) = shared.get(name) {
                    targets.insert(target.clone());
                }
            }
            // `super::{a, b::C}` names modules a and b; `super::a::B` names a.
            let modules = used.trim_start_matches('{').split(',').map(str::trim);
            for path in modules {
                let first = path.split("::").next().unwrap_or_default();
                if let Some(target) = module(folder, first, files) {
                    targets.insert(target);
                }
            }
        }
        for used in after(&text, "crate::") {
            let parts: Vec<&str> = used
                .split("::")
                .take_while(|p| p.starts_with(|c: char| c.is_ascii_lowercase()))
                .collect();
            for depth in (1..=parts.len()).rev() {
                let base = parts[..depth].iter().fold(src.to_owned(), |p, s| p.join(s));
                let folder = base.parent().unwrap().to_owned();
                let name = base.file_name().unwrap().to_str().unwrap();
                if let Some(target) = module(&folder, name, files) {
                    targets.insert(target);
                    break;
                }
            }
        }
        let same_room = |target: &PathBuf| {
            target.parent() == Some(folder) && !target.ends_with("mod.rs") && target != file
        };
        let targets = targets.into_iter().filter(same_room).collect();
        if !file.ends_with("mod.rs") {
            edges.insert(file.clone(), targets);
        }
    }
    edges
}

/// The circles among `edges`: groups of files that reach each other (Tarjan's strongly
/// connected components of more than one file).
fn circles(edges: &BTreeMap<PathBuf, BTreeSet<PathBuf>>) -> Vec<Vec<PathBuf>> {
    struct Walk<'a> {
        edges: &'a BTreeMap<PathBuf, BTreeSet<PathBuf>>,
        index: HashMap<&'a PathBuf, usize>,
        low: HashMap<&'a PathBuf, usize>,
        stack: Vec<&'a PathBuf>,
        on_stack: BTreeSet<&'a PathBuf>,
        found: Vec<Vec<PathBuf>>,
    }
    impl<'a> Walk<'a> {
        fn visit(&mut self, v: &'a PathBuf) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            self.on_stack.insert(v);
            for w in self.edges.get(v).into_iter().flatten() {
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let low = self.low[v].min(self.low[w]);
                    self.low.insert(v, low);
                } else if self.on_stack.contains(w) {
                    let low = self.low[v].min(self.index[w]);
                    self.low.insert(v, low);
                }
            }
            if self.low[v] == self.index[v] {
                let mut group = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(w);
                    group.push(w.clone());
                    if w == v {
                        break;
                    }
                }
                if group.len() > 1 {
                    group.sort();
                    self.found.push(group);
                }
            }
        }
    }
    let mut walk = Walk {
        edges,
        index: HashMap::new(),
        low: HashMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in edges.keys() {
        if !walk.index.contains_key(v) {
            walk.visit(v);
        }
    }
    walk.found
}

#[test]
fn no_files_of_one_folder_import_each_other_in_a_circle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = BTreeMap::new();
    sources(&src, &mut files);
    let edges = edges(&src, &files);
    // The reading itself is checked on a room known to import: the worker's loop and its
    // operations.
    let ops = src.join("worker").join("ops.rs");
    assert!(
        edges[&ops].contains(&src.join("worker").join("work.rs")),
        "imports are read: {:?}",
        edges[&ops]
    );
    let found = circles(&edges);
    assert!(
        found.is_empty(),
        "files importing each other in a circle: {found:#?}"
    );
}

#[test]
fn a_circle_is_found_when_there_is_one() {
    let file = |name: &str| PathBuf::from(format!("src/room/{name}.rs"));
    let mut edges = BTreeMap::new();
    edges.insert(file("a"), BTreeSet::from([file("b")]));
    edges.insert(file("b"), BTreeSet::from([file("c")]));
    edges.insert(file("c"), BTreeSet::from([file("a")]));
    edges.insert(file("d"), BTreeSet::from([file("a")]));
    assert_eq!(circles(&edges), [vec![file("a"), file("b"), file("c")]]);
    edges.insert(file("c"), BTreeSet::new());
    assert!(circles(&edges).is_empty());
}
