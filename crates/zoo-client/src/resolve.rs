//! Dependency resolution with PubGrub over semver ranges.
//!
//! Yanked versions are never chosen unless the lockfile pins them; a pinned
//! version is preferred whenever it satisfies the ranges. Pre-releases are
//! chosen as Cargo chooses them: when pinned, or when a requirement on the
//! package names a pre-release of the same `MAJOR.MINOR.PATCH`. Build
//! metadata is ignored (`1.0.0+build.5` is `1.0.0`, as the registry has it):
//! PubGrub sees versions without it. An impossible request is explained in
//! words naming the packages and requirements.

use crate::error::{Error, Result};
use pubgrub::{
    DefaultStringReporter, Dependencies, DependencyProvider, PackageResolutionStatistics,
    PubGrubError, Ranges, Reporter,
};
use semver::{Comparator, Op, Version, VersionReq};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use zoo_format::index::IndexEntry;
use zoo_format::version::{allows_prerelease_of, same_version, without_build};

/// Where the resolver reads the versions of a package.
pub trait EntrySource {
    /// Every version of `name` (yanked included); `Error::NotFound` if none.
    fn entries(&self, name: &str) -> Result<Vec<IndexEntry>>;
}

impl EntrySource for crate::index::Index {
    fn entries(&self, name: &str) -> Result<Vec<IndexEntry>> {
        crate::index::Index::entries(self, name)
    }
}

impl EntrySource for HashMap<String, Vec<IndexEntry>> {
    fn entries(&self, name: &str) -> Result<Vec<IndexEntry>> {
        self.get(&zoo_format::normalize_name(name))
            .cloned()
            .ok_or_else(|| Error::NotFound {
                name: name.to_string(),
                registry: "(in memory)".into(),
            })
    }
}

/// A package in the resolution: the user's request or a named package.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Node {
    Request,
    Package(String),
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Node::Request => f.write_str(REQUEST),
            Node::Package(name) => f.write_str(name),
        }
    }
}

const REQUEST: &str = "your request";
/// The version the request node carries (never shown: see `explain`).
const REQUEST_VERSION: Version = Version::new(0, 0, 0);

/// Converts a semver requirement into a PubGrub range.
pub fn req_to_ranges(req: &VersionReq) -> Result<Ranges<Version>> {
    let mut ranges = Ranges::full();
    for comparator in &req.comparators {
        ranges = ranges.intersection(&comparator_to_ranges(comparator)?);
    }
    Ok(ranges)
}

fn comparator_to_ranges(c: &Comparator) -> Result<Ranges<Version>> {
    let v = Version::new;
    let (ma, mi, pa) = (c.major, c.minor, c.patch);
    let full = || Version {
        major: ma,
        minor: mi.unwrap_or(0),
        patch: pa.unwrap_or(0),
        pre: c.pre.clone(),
        build: semver::BuildMetadata::EMPTY,
    };
    Ok(match (c.op, mi, pa) {
        (Op::Exact, Some(_), Some(_)) => Ranges::singleton(full()),
        (Op::Exact | Op::Tilde | Op::Wildcard, Some(mi), None) => {
            Ranges::between(v(ma, mi, 0), v(ma, mi + 1, 0))
        }
        (Op::Exact | Op::Tilde | Op::Wildcard | Op::Caret, None, _) => {
            Ranges::between(v(ma, 0, 0), v(ma + 1, 0, 0))
        }
        (Op::Greater, Some(_), Some(_)) => Ranges::strictly_higher_than(full()),
        (Op::Greater, Some(mi), None) => Ranges::higher_than(v(ma, mi + 1, 0)),
        (Op::Greater, None, _) => Ranges::higher_than(v(ma + 1, 0, 0)),
        (Op::GreaterEq, _, _) => Ranges::higher_than(full()),
        (Op::Less, _, _) => Ranges::strictly_lower_than(full()),
        (Op::LessEq, Some(_), Some(_)) => Ranges::lower_than(full()),
        (Op::LessEq, Some(mi), None) => Ranges::strictly_lower_than(v(ma, mi + 1, 0)),
        (Op::LessEq, None, _) => Ranges::strictly_lower_than(v(ma + 1, 0, 0)),
        (Op::Tilde, Some(mi), Some(_)) => Ranges::between(full(), v(ma, mi + 1, 0)),
        (Op::Wildcard, Some(mi), Some(_)) => Ranges::between(v(ma, mi, 0), v(ma, mi + 1, 0)),
        (Op::Caret, Some(mi), Some(pa)) => {
            let upper = if ma > 0 {
                v(ma + 1, 0, 0)
            } else if mi > 0 {
                v(0, mi + 1, 0)
            } else {
                v(0, 0, pa + 1)
            };
            Ranges::between(full(), upper)
        }
        (Op::Caret, Some(mi), None) => {
            let upper = if ma > 0 {
                v(ma + 1, 0, 0)
            } else {
                v(0, mi + 1, 0)
            };
            Ranges::between(v(ma, mi, 0), upper)
        }
        (op, _, _) => {
            return Err(Error::Invalid(format!(
                "unsupported version operator {op:?} in `{c}`"
            )));
        }
    })
}

/// What to resolve: the requested packages and the lockfile's pins.
#[derive(Debug, Default, Clone)]
pub struct Request {
    pub requirements: Vec<(String, VersionReq)>,
    /// Canonical name → pinned version (may be yanked).
    pub pins: HashMap<String, Version>,
}

struct Provider<'a, S: EntrySource> {
    source: &'a S,
    request: &'a Request,
    /// Every requirement seen so far per package that names a pre-release:
    /// the request's, and each chosen version's dependencies' (PubGrub asks
    /// for a package's dependencies before it picks their versions).
    prerelease_reqs: RefCell<HashMap<String, Vec<VersionReq>>>,
}

impl<'a, S: EntrySource> Provider<'a, S> {
    fn new(source: &'a S, request: &'a Request) -> Self {
        let provider = Provider {
            source,
            request,
            prerelease_reqs: RefCell::default(),
        };
        for (name, req) in &request.requirements {
            provider.note_requirement(name, req);
        }
        provider
    }

    fn note_requirement(&self, name: &str, req: &VersionReq) {
        if req.comparators.iter().any(|c| !c.pre.is_empty()) {
            self.prerelease_reqs
                .borrow_mut()
                .entry(zoo_format::normalize_name(name))
                .or_default()
                .push(req.clone());
        }
    }

    /// Whether a requirement on `name` opts in to `version` (a release
    /// always does).
    fn may_choose(&self, name: &str, version: &Version) -> bool {
        version.pre.is_empty()
            || self
                .prerelease_reqs
                .borrow()
                .get(name)
                .is_some_and(|reqs| reqs.iter().any(|r| allows_prerelease_of(r, version)))
    }
}

impl<S: EntrySource> Provider<'_, S> {
    fn versions(&self, name: &str) -> Result<Vec<IndexEntry>> {
        match self.source.entries(name) {
            Ok(entries) => Ok(entries),
            // A dependency that does not exist simply has no versions;
            // PubGrub then explains which requirement asked for it.
            Err(Error::NotFound { .. }) => Ok(Vec::new()),
            Err(other) => Err(other),
        }
    }

    fn pick(&self, name: &str, range: &Ranges<Version>) -> Result<Option<Version>> {
        if let Some(pinned) = self.request.pins.get(name).map(without_build)
            && range.contains(&pinned)
            && self
                .versions(name)?
                .iter()
                .any(|e| same_version(&e.vers, &pinned))
        {
            return Ok(Some(pinned));
        }
        Ok(self
            .versions(name)?
            .into_iter()
            .map(|e| (e.yanked, without_build(&e.vers)))
            .filter(|(yanked, v)| !yanked && range.contains(v) && self.may_choose(name, v))
            .map(|(_, v)| v)
            .max())
    }
}

impl<S: EntrySource> DependencyProvider for Provider<'_, S> {
    type P = Node;
    type V = Version;
    type VS = Ranges<Version>;
    type M = String;
    type Err = Error;
    type Priority = (u32, std::cmp::Reverse<usize>);

    fn prioritize(
        &self,
        package: &Node,
        range: &Ranges<Version>,
        stats: &PackageResolutionStatistics,
    ) -> Self::Priority {
        let candidates = match package {
            Node::Request => 1,
            Node::Package(name) => self
                .versions(name)
                .map(|all| {
                    all.iter()
                        .filter(|e| range.contains(&without_build(&e.vers)))
                        .count()
                })
                .unwrap_or(0),
        };
        (stats.conflict_count(), std::cmp::Reverse(candidates))
    }

    fn choose_version(&self, package: &Node, range: &Ranges<Version>) -> Result<Option<Version>> {
        match package {
            Node::Request => Ok(range.contains(&REQUEST_VERSION).then_some(REQUEST_VERSION)),
            Node::Package(name) => self.pick(name, range),
        }
    }

    fn get_dependencies(
        &self,
        package: &Node,
        version: &Version,
    ) -> Result<Dependencies<Node, Ranges<Version>, String>> {
        let mut deps = Vec::new();
        match package {
            Node::Request => {
                for (name, req) in &self.request.requirements {
                    deps.push((
                        Node::Package(zoo_format::normalize_name(name)),
                        req_to_ranges(req)?,
                    ));
                }
            }
            Node::Package(name) => {
                let entries = self.versions(name)?;
                let Some(entry) = entries.iter().find(|e| same_version(&e.vers, version)) else {
                    return Ok(Dependencies::Unavailable(format!(
                        "{name} {version} is not in the index"
                    )));
                };
                for dep in &entry.deps {
                    self.note_requirement(&dep.name, &dep.req);
                    deps.push((
                        Node::Package(zoo_format::normalize_name(&dep.name)),
                        req_to_ranges(&dep.req)?,
                    ));
                }
            }
        }
        Ok(Dependencies::Available(deps.into_iter().collect()))
    }
}

/// Resolves `request` against `source`: the chosen entry per package, by name.
pub fn resolve(source: &impl EntrySource, request: &Request) -> Result<Vec<IndexEntry>> {
    // Unknown top-level names get a direct "not found" rather than a proof.
    for (name, _) in &request.requirements {
        source.entries(name)?;
    }
    let provider = Provider::new(source, request);
    let solution = match pubgrub::resolve(&provider, Node::Request, REQUEST_VERSION) {
        Ok(solution) => solution,
        Err(PubGrubError::NoSolution(mut tree)) => {
            tree.collapse_no_versions();
            let mut message = explain(&DefaultStringReporter::report(&tree));
            for note in version_notes(source, request)? {
                message.push('\n');
                message.push_str(&note);
            }
            return Err(Error::Unsatisfiable(message));
        }
        Err(PubGrubError::ErrorRetrievingDependencies { source, .. })
        | Err(PubGrubError::ErrorChoosingVersion { source, .. })
        | Err(PubGrubError::ErrorInShouldCancel(source)) => return Err(source),
    };
    let mut chosen = BTreeMap::new();
    for (node, version) in solution {
        if let Node::Package(name) = node {
            let entry = source
                .entries(&name)?
                .into_iter()
                .find(|e| same_version(&e.vers, &version))
                .ok_or_else(|| {
                    Error::Invalid(format!("{name} {version} vanished from the index"))
                })?;
            chosen.insert(name, entry);
        }
    }
    Ok(chosen.into_values().collect())
}

/// The exact version an `=MAJOR.MINOR.PATCH` requirement names (which may
/// install a yanked version, as cargo's `--precise` does); `None` otherwise.
pub fn exact_version(req: &VersionReq) -> Option<Version> {
    match req.comparators.as_slice() {
        [c] if c.op == Op::Exact => Some(Version {
            major: c.major,
            minor: c.minor?,
            patch: c.patch?,
            pre: c.pre.clone(),
            build: semver::BuildMetadata::EMPTY,
        }),
        _ => None,
    }
}

/// For each requested package that no installable version satisfies: the
/// yanked versions that would have matched (and how to get one anyway),
/// and every version that exists.
fn version_notes(source: &impl EntrySource, request: &Request) -> Result<Vec<String>> {
    let mut notes = Vec::new();
    for (name, req) in &request.requirements {
        let Ok(mut entries) = source.entries(name) else {
            continue;
        };
        let ranges = req_to_ranges(req)?;
        let pinned = request.pins.get(&zoo_format::normalize_name(name));
        let opted_in = |v: &Version| v.pre.is_empty() || allows_prerelease_of(req, v);
        let installable = |e: &IndexEntry| {
            let v = without_build(&e.vers);
            ranges.contains(&v)
                && ((!e.yanked && opted_in(&v)) || pinned.is_some_and(|p| same_version(p, &v)))
        };
        if entries.iter().any(installable) {
            continue;
        }
        entries.sort_by(|a, b| a.vers.cmp(&b.vers));
        for e in entries
            .iter()
            .filter(|e| e.yanked && ranges.contains(&without_build(&e.vers)))
        {
            notes.push(format!(
                "{name} {} matches `{req}` but is yanked; `zoo install {name}@={}` installs it anyway",
                e.vers, e.vers
            ));
        }
        // Pre-releases of the release the requirement starts at (`^0.3` and
        // 0.3.0-rc.1): semver orders them below it, so they only match a
        // requirement that names one.
        let starts_at = |v: &Version| {
            req.comparators.iter().any(|c| {
                (c.major, c.minor.unwrap_or(0), c.patch.unwrap_or(0)) == (v.major, v.minor, v.patch)
            })
        };
        let skipped: Vec<&Version> = entries
            .iter()
            .filter(|e| !e.yanked && !opted_in(&e.vers) && starts_at(&e.vers))
            .map(|e| &e.vers)
            .collect();
        if let Some(newest) = skipped.last() {
            let list: Vec<String> = skipped.iter().map(|v| v.to_string()).collect();
            notes.push(format!(
                "{name} {} {} pre-release{} of {}.{}.{}, which only a requirement naming a pre-release matches (`{name}@^{newest}`); `zoo install {name}@={newest}` installs exactly that one",
                list.join(", "),
                if skipped.len() == 1 { "is a" } else { "are" },
                if skipped.len() == 1 { "" } else { "s" },
                newest.major,
                newest.minor,
                newest.patch,
            ));
        }
        let versions: Vec<String> = entries
            .iter()
            .map(|e| match e.yanked {
                true => format!("{} (yanked)", e.vers),
                false => e.vers.to_string(),
            })
            .collect();
        notes.push(format!(
            "{name} has these versions: {}",
            versions.join(", ")
        ));
    }
    Ok(notes)
}

/// Drops the request node's placeholder version from PubGrub's report.
fn explain(report: &str) -> String {
    report.replace(&format!("{REQUEST} {REQUEST_VERSION}"), REQUEST)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_agree_with_semver_matching() {
        let reqs = [
            "^1.2.3",
            "^0.2.3",
            "^0.0.3",
            "^1.2",
            "^0.2",
            "^0.0",
            "^1",
            "~1.2.3",
            "~1.2",
            "~1",
            "=1.2.3",
            "=1.2",
            "=1",
            ">1.2.3",
            ">1.2",
            ">1",
            ">=1.2.3",
            ">=1.2",
            "<1.2.3",
            "<1.2",
            "<=1.2.3",
            "<=1.2",
            "<=1",
            "1.2.*",
            "1.*",
            "*",
            ">=1.0, <1.5",
        ];
        let versions: Vec<Version> = [
            "0.0.0", "0.0.3", "0.0.4", "0.2.3", "0.2.9", "0.3.0", "1.0.0", "1.1.9", "1.2.0",
            "1.2.3", "1.2.4", "1.3.0", "1.4.9", "1.5.0", "2.0.0", "3.1.4",
        ]
        .iter()
        .map(|v| Version::parse(v).unwrap())
        .collect();
        for req in reqs {
            let parsed = VersionReq::parse(req).unwrap();
            let ranges = req_to_ranges(&parsed).unwrap();
            for version in &versions {
                assert_eq!(
                    ranges.contains(version),
                    parsed.matches(version),
                    "{req} vs {version}"
                );
            }
        }
    }

    fn entry(name: &str, vers: &str, deps: &[(&str, &str)], yanked: bool) -> IndexEntry {
        let line = serde_json::json!({
            "name": name, "vers": vers, "kind": "model",
            "deps": deps.iter().map(|(n, r)| serde_json::json!({"name": n, "req": r})).collect::<Vec<_>>(),
            "archive": {"sha256": "00".repeat(32), "size": 1},
            "files": [], "yanked": yanked,
        });
        serde_json::from_value(line).unwrap()
    }

    fn universe(entries: Vec<IndexEntry>) -> HashMap<String, Vec<IndexEntry>> {
        let mut map: HashMap<String, Vec<IndexEntry>> = HashMap::new();
        for e in entries {
            map.entry(e.name.clone()).or_default().push(e);
        }
        map
    }

    fn request(reqs: &[(&str, &str)]) -> Request {
        Request {
            requirements: reqs
                .iter()
                .map(|(n, r)| (n.to_string(), VersionReq::parse(r).unwrap()))
                .collect(),
            pins: HashMap::new(),
        }
    }

    fn chosen(entries: &[IndexEntry]) -> Vec<String> {
        entries
            .iter()
            .map(|e| format!("{}@{}", e.name, e.vers))
            .collect()
    }

    #[test]
    fn picks_highest_compatible_versions_across_dependencies() {
        let source = universe(vec![
            entry("app", "1.0.0", &[("lib", "^1.1"), ("util", "*")], false),
            entry("lib", "1.0.0", &[], false),
            entry("lib", "1.2.0", &[("util", "<0.3")], false),
            entry("lib", "2.0.0", &[], false),
            entry("util", "0.2.5", &[], false),
            entry("util", "0.3.0", &[], false),
        ]);
        let result = resolve(&source, &request(&[("app", "*")])).unwrap();
        assert_eq!(chosen(&result), ["app@1.0.0", "lib@1.2.0", "util@0.2.5"]);
    }

    #[test]
    fn prereleases_need_a_requirement_naming_their_release() {
        let source = universe(vec![
            entry("a", "0.2.0", &[], false),
            entry("a", "0.3.0-rc.1", &[], false),
            entry("a", "0.3.0-rc.2", &[], false),
            entry("a", "0.4.0-alpha", &[], false),
            entry("b", "1.0.0", &[("a", "^0.3.0-rc.1")], false),
        ]);
        // A plain range never picks a pre-release…
        let plain = resolve(&source, &request(&[("a", ">=0.2")])).unwrap();
        assert_eq!(chosen(&plain), ["a@0.2.0"]);
        // …one naming 0.3.0's pre-releases picks the newest of them, not 0.4.0-alpha,
        let named = resolve(&source, &request(&[("a", ">=0.3.0-rc.1")])).unwrap();
        assert_eq!(chosen(&named), ["a@0.3.0-rc.2"]);
        // also when a dependency names it.
        let via_dep = resolve(&source, &request(&[("b", "^1")])).unwrap();
        assert_eq!(chosen(&via_dep), ["a@0.3.0-rc.2", "b@1.0.0"]);
        // A range that only pre-releases fall in says why none was chosen.
        let err = resolve(&source, &request(&[("a", "^0.3")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("a 0.3.0-rc.1, 0.3.0-rc.2 are pre-releases of 0.3.0"),
            "{err}"
        );
        assert!(!err.contains("0.4.0-alpha is"), "{err}");
        assert!(err.contains("`zoo install a@=0.3.0-rc.2`"), "{err}");
    }

    #[test]
    fn build_metadata_is_ignored_as_the_registry_ignores_it() {
        let source = universe(vec![
            entry("a", "0.2.0", &[], false),
            entry("a", "1.0.0+build.5", &[], false),
        ]);
        for req in ["=1.0.0", "<=1.0.0", "^1", "=1.0.0+other"] {
            let picked = resolve(&source, &request(&[("a", req)])).unwrap();
            assert_eq!(chosen(&picked), ["a@1.0.0+build.5"], "{req}");
        }
        let above = resolve(&source, &request(&[("a", ">1.0.0")]));
        assert!(above.is_err(), "1.0.0+build.5 is not above 1.0.0");
        let mut pinned = request(&[("a", "*")]);
        pinned
            .pins
            .insert("a".into(), Version::parse("1.0.0").unwrap());
        assert_eq!(
            chosen(&resolve(&source, &pinned).unwrap()),
            ["a@1.0.0+build.5"]
        );
    }

    #[test]
    fn skips_yanked_unless_pinned() {
        let source = universe(vec![
            entry("a", "1.0.0", &[], false),
            entry("a", "1.1.0", &[], true),
        ]);
        let mut req = request(&[("a", "^1")]);
        assert_eq!(chosen(&resolve(&source, &req).unwrap()), ["a@1.0.0"]);
        req.pins
            .insert("a".into(), Version::parse("1.1.0").unwrap());
        assert_eq!(chosen(&resolve(&source, &req).unwrap()), ["a@1.1.0"]);
    }

    #[test]
    fn explains_conflicts_with_names_and_requirements() {
        let source = universe(vec![
            entry("a", "1.0.0", &[("shared", "^1")], false),
            entry("b", "1.0.0", &[("shared", "^2")], false),
            entry("shared", "1.0.0", &[], false),
            entry("shared", "2.0.0", &[], false),
        ]);
        let error = resolve(&source, &request(&[("a", "*"), ("b", "*")])).unwrap_err();
        let text = error.to_string();
        for needle in [
            "a",
            "b",
            "shared",
            ">=1.0.0, <2.0.0",
            ">=2.0.0, <3.0.0",
            "your request",
        ] {
            assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
        }
        assert!(!text.contains("0.0.0 depends"), "{text}");
    }

    #[test]
    fn an_unsatisfiable_request_names_the_yank_and_lists_the_versions() {
        let source = universe(vec![
            entry("timer", "0.1.0", &[], false),
            entry("timer", "0.2.0", &[], true),
        ]);
        let text = resolve(&source, &request(&[("timer", "0.2.0")]))
            .unwrap_err()
            .to_string();
        assert!(
            text.contains("timer 0.2.0 matches `^0.2.0` but is yanked")
                && text.contains("zoo install timer@=0.2.0"),
            "{text}"
        );
        assert!(
            text.contains("timer has these versions: 0.1.0, 0.2.0 (yanked)"),
            "{text}"
        );
        let text = resolve(&source, &request(&[("timer", "^3")]))
            .unwrap_err()
            .to_string();
        assert!(!text.contains("but is yanked"), "{text}");
        assert!(text.contains("timer has these versions"), "{text}");
    }

    #[test]
    fn only_full_equals_requirements_are_exact() {
        let exact = |r: &str| exact_version(&VersionReq::parse(r).unwrap());
        assert_eq!(exact("=0.2.0"), Some(Version::new(0, 2, 0)));
        assert_eq!(exact("0.2.0"), None);
        assert_eq!(exact("=0.2"), None);
        assert_eq!(exact(">=0.2.0"), None);
    }

    #[test]
    fn unknown_top_level_package_is_not_found() {
        let source = universe(vec![entry("a", "1.0.0", &[], false)]);
        let error = resolve(&source, &request(&[("nope", "*")])).unwrap_err();
        assert!(matches!(error, Error::NotFound { .. }), "{error}");
    }
}
