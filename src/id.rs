//! IDs that are not digests: container IDs, graphdriver cache IDs, RW-layer mount IDs.
//!
//! They are directory and file names read from disk, so nothing about them is
//! trusted: they are kept as the text that was read, and [`short_id`] cuts them on
//! a character boundary (a hostile name may hold multi-byte characters).

use serde::{Deserialize, Serialize};
use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;

/// The first 12 characters of `id`, as Docker prints a short ID. Never cuts inside a
/// UTF-8 character.
pub fn short_id(id: &str) -> &str {
    match id.char_indices().nth(12) {
        Some((end, _)) => &id[..end],
        None => id,
    }
}

/// Declares a newtype over the text of one kind of non-digest ID.
macro_rules! text_id_newtype {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(schemars::JsonSchema, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps the ID as read from disk (not checked: IDs on disk are data).
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }
            /// The ID as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
            /// The first 12 characters (see [`short_id`]).
            pub fn short(&self) -> &str {
                short_id(&self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<std::path::Path> for $name {
            fn as_ref(&self) -> &std::path::Path {
                std::path::Path::new(&self.0)
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

text_id_newtype!(
    /// A container's ID: its directory name under `containers/` (64 hex when Docker
    /// wrote it), or a containerd container's ID.
    ContainerId
);
text_id_newtype!(
    /// The name of a layer's graphdriver directory (`layerdb/sha256/<chainID>/cache-id`).
    CacheId
);
text_id_newtype!(
    /// The name of a RW layer's graphdriver directory (`layerdb/mounts/<name>/mount-id`
    /// and `init-id`).
    MountId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_keeps_twelve_characters_and_never_cuts_a_character() {
        let id = ContainerId::new("0123456789abcdef");
        assert_eq!(id.short(), "0123456789ab");
        assert_eq!(short_id("abc"), "abc");
        // 11 ASCII then a 4-byte character: the 12th character is kept whole.
        assert_eq!(short_id("0123456789a\u{1f600}tail"), "0123456789a\u{1f600}");
        assert_eq!(short_id("éééééééééééééé"), "éééééééééééé");
    }

    #[test]
    fn serialises_as_the_plain_string() {
        let id = MountId::new("abc");
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"abc\"");
        assert_eq!(serde_json::from_str::<MountId>("\"abc\"").unwrap(), id);
    }
}
