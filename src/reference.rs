//! Image references (`name:tag`, `name@sha256:...`) and Docker's normalisation of them.
//!
//! `repositories.json` stores familiar names (`alpine`, `user/app`), the CLI prints
//! them, and users type any spelling (`docker.io/library/alpine:latest`). Comparing
//! through one normal form is what makes `strata inspect alpine` find the image.

use crate::digest::Digest;
use std::fmt;

const DEFAULT_DOMAIN: &str = "docker.io";
const OFFICIAL_PREFIX: &str = "library/";

/// A parsed reference. `name` is always fully normalised (`docker.io/library/alpine`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Reference {
    /// Fully normalised repository name (`docker.io/library/alpine`).
    pub name: String,
    /// The tag, if one was given (a missing tag is not turned into `latest`).
    pub tag: Option<String>,
    /// The digest after `@`, if one was given.
    pub digest: Option<Digest>,
}

/// Why a string is not an image reference (holds the string, truncated).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a valid image reference")]
pub struct ReferenceError(pub String);

fn valid_name_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-' | '/' | ':')
}

impl Reference {
    /// Parses and normalises a reference the way `docker` does, except that a missing
    /// tag is left missing (callers decide whether it means `latest`).
    pub fn parse(s: &str) -> Result<Self, ReferenceError> {
        let err = || ReferenceError(s.chars().take(200).collect());
        if s.is_empty() || s.len() > 4096 {
            return Err(err());
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => (r, Some(Digest::parse(d).map_err(|_| err())?)),
            None => (s, None),
        };
        // A ':' after the last '/' starts the tag; one before it belongs to a host:port.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let i = last_slash + i;
                (&rest[..i], Some(rest[i + 1..].to_owned()))
            }
            None => (rest, None),
        };
        if let Some(t) = &tag {
            let ok = !t.is_empty()
                && t.len() <= 128
                && t.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
                && !t.starts_with(['.', '-']);
            if !ok {
                return Err(err());
            }
        }
        if name.is_empty() || name.starts_with('/') || name.ends_with('/') || name.contains("//") {
            return Err(err());
        }
        let (domain, path) = split_domain(name);
        if !path.chars().all(valid_name_char) || path.contains(':') || path.is_empty() {
            return Err(err());
        }
        if domain.chars().any(|c| c.is_whitespace() || c == '@') {
            return Err(err());
        }
        Ok(Self { name: format!("{domain}/{path}"), tag, digest })
    }

    /// The name as Docker prints it: without `docker.io/` and `library/`.
    pub fn familiar_name(&self) -> String {
        familiar(&self.name)
    }

    /// Familiar string form (`alpine:3.19`, `registry:5000/x@sha256:...`).
    pub fn familiar(&self) -> String {
        let mut s = self.familiar_name();
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(&d.to_string());
        }
        s
    }

    /// The same reference with `:latest` added when it has neither tag nor digest.
    pub fn with_default_tag(mut self) -> Self {
        if self.tag.is_none() && self.digest.is_none() {
            self.tag = Some("latest".into());
        }
        self
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// Splits off the registry host the way the distribution reference grammar does: the
/// first component is a host only if it has a `.` or `:`, or is `localhost`.
fn split_domain(name: &str) -> (String, String) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains('.')
                || first.contains(':')
                || first == "localhost"
                || first.chars().any(|c| c.is_ascii_uppercase()) =>
        {
            let domain = if first == "index.docker.io" { DEFAULT_DOMAIN } else { first };
            let path = if domain == DEFAULT_DOMAIN && !rest.contains('/') {
                format!("{OFFICIAL_PREFIX}{rest}")
            } else {
                rest.to_owned()
            };
            (domain.to_owned(), path)
        }
        Some(_) => (DEFAULT_DOMAIN.to_owned(), name.to_owned()),
        None => (DEFAULT_DOMAIN.to_owned(), format!("{OFFICIAL_PREFIX}{name}")),
    }
}

/// The familiar form of a normalised repository name.
pub fn familiar(name: &str) -> String {
    match name.strip_prefix("docker.io/") {
        Some(rest) => rest
            .strip_prefix(OFFICIAL_PREFIX)
            .filter(|r| !r.contains('/'))
            .unwrap_or(rest)
            .to_owned(),
        None => name.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_like_docker() {
        let r = Reference::parse("alpine").unwrap();
        assert_eq!(r.name, "docker.io/library/alpine");
        assert_eq!(r.clone().with_default_tag().familiar(), "alpine:latest");
        let r = Reference::parse("docker.io/library/alpine:3.19").unwrap();
        assert_eq!(r.familiar(), "alpine:3.19");
        let r = Reference::parse("127.0.0.1:5000/strata/app:1").unwrap();
        assert_eq!(r.name, "127.0.0.1:5000/strata/app");
        assert_eq!(r.tag.as_deref(), Some("1"));
        assert_eq!(r.familiar(), "127.0.0.1:5000/strata/app:1");
        let r = Reference::parse("user/app").unwrap();
        assert_eq!(r.name, "docker.io/user/app");
        assert_eq!(r.familiar_name(), "user/app");
        let d = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef";
        let r = Reference::parse(&format!("localhost:5000/x@{d}")).unwrap();
        assert_eq!(r.digest.unwrap().to_string(), d);
        assert!(r.tag.is_none());
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "UPPER", "a:b:c", "x@sha256:00", "/abs", "a//b", "a:-x"] {
            assert!(Reference::parse(bad).is_err(), "{bad}");
        }
    }
}
