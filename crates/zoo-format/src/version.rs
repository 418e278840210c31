//! Version rules shared by the registry and the client, as Cargo has them:
//! build metadata does not make a version different, and a pre-release only
//! matches a requirement that names a pre-release of the same
//! `MAJOR.MINOR.PATCH`.

use semver::{Version, VersionReq};

/// `v` without its build metadata: `1.0.0+build.5` is version `1.0.0`.
pub fn without_build(v: &Version) -> Version {
    let mut v = v.clone();
    v.build = semver::BuildMetadata::EMPTY;
    v
}

/// Whether two versions are the same version (build metadata ignored).
pub fn same_version(a: &Version, b: &Version) -> bool {
    a.major == b.major && a.minor == b.minor && a.patch == b.patch && a.pre == b.pre
}

/// Whether `req` opts in to the pre-releases of `v`'s `MAJOR.MINOR.PATCH`:
/// one of its comparators names a pre-release of exactly that release
/// (`>=0.3.0-rc.1` lets `0.3.0-rc.2` match, not `0.4.0-alpha`).
pub fn allows_prerelease_of(req: &VersionReq, v: &Version) -> bool {
    req.comparators.iter().any(|c| {
        !c.pre.is_empty()
            && c.major == v.major
            && c.minor == Some(v.minor)
            && c.patch == Some(v.patch)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).expect("test version")
    }

    #[test]
    fn build_metadata_does_not_make_a_different_version() {
        assert!(same_version(&v("1.0.0+build.5"), &v("1.0.0")));
        assert!(same_version(&v("1.0.0-rc.1+x"), &v("1.0.0-rc.1+y")));
        assert!(!same_version(&v("1.0.0-rc.1"), &v("1.0.0")));
        assert_eq!(without_build(&v("1.2.3+abc")), v("1.2.3"));
    }

    #[test]
    fn prereleases_match_only_requirements_naming_their_release() {
        let req = VersionReq::parse(">=0.3.0-rc.1, <0.4.0").expect("req");
        assert!(allows_prerelease_of(&req, &v("0.3.0-rc.2")));
        assert!(!allows_prerelease_of(&req, &v("0.4.0-alpha")));
        assert!(!allows_prerelease_of(
            &VersionReq::parse("^0.3").expect("req"),
            &v("0.3.0-rc.1")
        ));
        // The semver crate's own matching agrees.
        assert!(req.matches(&v("0.3.0-rc.2")));
        assert!(
            !VersionReq::parse("^0.3")
                .expect("req")
                .matches(&v("0.3.1-rc.1"))
        );
    }
}
