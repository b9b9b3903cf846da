//! The catalog: models an app can install, with where to get them and how to check them.
//!
//! The built-in catalog ([`Catalog::builtin`], `catalog.json` beside this file) lists:
//! - `bitnet-b1.58-2b-4t-i2_s`: Microsoft's BitNet b1.58 2B4T in I2_S, the file
//!   `ggml-model-i2_s.gguf` of the Hugging Face repository `microsoft/bitnet-b1.58-2B-4T-gguf`
//!   at revision `a1f2f1c765812aa8af3f6eda4a313707064bba15` (the URL pins that revision, so
//!   the bytes cannot change under the checksum). Size and SHA-256 are the Git LFS object's
//!   published for that revision, as several public projects pin them.
//! - `bitnet-demo-i2_s`: the SDK's trained demo model (`sample-apps/demo-model`), which apps
//!   ship and [`import`](super::ModelStore::import) rather than download.
//!
//! Memory figures are `bitnet estimate` on the file (for 2B4T: its shape with the Llama 3
//! vocabulary), mapped weights counted.

use serde::Deserialize;

use super::StoreError;
use crate::runtime::Profile;

/// One model the store can install.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct CatalogEntry {
    /// Stable identifier (`"bitnet-b1.58-2b-4t-i2_s"`).
    pub id: String,
    /// Name to show.
    pub name: String,
    /// The installed file's name in the store's directory.
    pub file_name: String,
    /// Where to download it, tried in order; empty for a model shipped with the app.
    pub urls: Vec<String>,
    /// The file's size, in bytes.
    pub size_bytes: u64,
    /// The file's SHA-256, lowercase hex.
    pub sha256: String,
    /// Storage format of the ternary projections (`"I2_S"`, `"TQ2_0"`, `"TQ1_0"`).
    pub format: String,
    /// `general.architecture`.
    pub arch: String,
    /// The model's licence.
    pub license: String,
    /// What running it takes in memory.
    pub memory: CatalogMemory,
}

/// What a catalog model needs in memory, from its header (see `MemoryEstimate`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct CatalogMemory {
    /// Everything but the mapped file and the KV cache: tokenizer, runtime, one session's
    /// buffers, in bytes.
    pub fixed_bytes: u64,
    /// KV cache per token of context, in bytes.
    pub kv_bytes_per_token: u64,
    /// The model's default context, in tokens.
    pub context_tokens: u64,
    /// The smallest context the engine loads it with, in tokens.
    pub min_context_tokens: u64,
}

/// How a catalog model fits a deployment profile's memory budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct ProfileFit {
    /// The profile.
    pub profile: Profile,
    /// Whether it loads under the profile's budget (with at least the minimum context).
    pub fits: bool,
    /// The context a session gets under the budget, at most the model's default, in tokens
    /// (0 when it does not fit).
    pub context_tokens: u64,
    /// Mapped file, fixed bytes and the KV cache of that context (of the minimum context when
    /// it does not fit), in bytes.
    pub total_bytes: u64,
}

impl CatalogEntry {
    /// How the model fits `profile`'s memory budget, mapped weights counted.
    pub fn fit(&self, profile: Profile) -> ProfileFit {
        let m = &self.memory;
        let fixed = self.size_bytes.saturating_add(m.fixed_bytes);
        let room = profile.memory_budget_bytes().saturating_sub(fixed);
        let context = (room / m.kv_bytes_per_token.max(1)).min(m.context_tokens);
        let fits = context >= m.min_context_tokens.min(m.context_tokens);
        let counted = if fits { context } else { m.min_context_tokens };
        ProfileFit {
            profile,
            fits,
            context_tokens: if fits { context } else { 0 },
            total_bytes: fixed.saturating_add(counted.saturating_mul(m.kv_bytes_per_token)),
        }
    }

    /// [`fit`](Self::fit) for every profile, smallest first.
    pub fn fits(&self) -> Vec<ProfileFit> {
        Profile::ALL.iter().map(|&p| self.fit(p)).collect()
    }
}

/// A list of installable models.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Catalog {
    /// The entries, in display order.
    pub models: Vec<CatalogEntry>,
}

impl Catalog {
    /// The catalog compiled into the SDK.
    pub fn builtin() -> Catalog {
        Catalog::from_json(include_str!("catalog.json")).expect("the built-in catalog is valid")
    }

    /// Parses and checks a catalog (an app's own, same format as the built-in one): unique
    /// ids and file names, plain file names, 64-digit SHA-256s, http(s) URLs.
    pub fn from_json(json: &str) -> Result<Catalog, StoreError> {
        let catalog: Catalog = serde_json::from_str(json).map_err(|e| StoreError::Catalog {
            detail: e.to_string(),
        })?;
        catalog.check()?;
        Ok(catalog)
    }

    /// The entry with `id`.
    pub fn get(&self, id: &str) -> Option<&CatalogEntry> {
        self.models.iter().find(|m| m.id == id)
    }

    fn check(&self) -> Result<(), StoreError> {
        let bad = |detail: String| Err(StoreError::Catalog { detail });
        for (i, m) in self.models.iter().enumerate() {
            if let Some(other) = self.models[..i]
                .iter()
                .find(|o| o.id == m.id || o.file_name == m.file_name)
            {
                return bad(format!(
                    "{} and {} share an id or file name",
                    other.id, m.id
                ));
            }
            if !super::is_plain_name(&m.file_name) {
                return bad(format!(
                    "{}: file name {:?} is not a plain name",
                    m.id, m.file_name
                ));
            }
            if m.sha256.len() != 64
                || !m
                    .sha256
                    .bytes()
                    .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            {
                return bad(format!("{}: sha256 must be 64 lowercase hex digits", m.id));
            }
            if let Some(url) = m
                .urls
                .iter()
                .find(|u| !(u.starts_with("https://") || u.starts_with("http://")))
            {
                return bad(format!("{}: {url:?} is not an http(s) URL", m.id));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_catalog_pins_the_official_model() {
        let catalog = Catalog::builtin();
        let m = catalog
            .get("bitnet-b1.58-2b-4t-i2_s")
            .expect("the 2B4T entry");
        assert_eq!(m.size_bytes, 1_187_801_280);
        assert!(m.urls[0].contains("a1f2f1c765812aa8af3f6eda4a313707064bba15"));
        // 1.19 GB mapped + 172 MB: too much for the mobile and edge budgets, fits server.
        let fits: Vec<bool> = m.fits().iter().map(|f| f.fits).collect();
        assert_eq!(fits, [false, false, true, true]);
        assert_eq!(m.fit(Profile::Server).context_tokens, 4096);
        let demo = catalog.get("bitnet-demo-i2_s").expect("the demo entry");
        assert!(demo.urls.is_empty());
        assert!(demo.fit(Profile::Mobile).fits);
    }

    #[test]
    fn the_demo_entry_matches_the_committed_file() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../sample-apps/demo-model/bitnet-demo-i2_s.gguf"
        );
        let len = std::fs::metadata(path).map(|m| m.len());
        let demo = Catalog::builtin().get("bitnet-demo-i2_s").cloned().unwrap();
        assert_eq!(len.ok(), Some(demo.size_bytes));
        assert_eq!(
            super::super::sha256_file(std::path::Path::new(path)).unwrap(),
            demo.sha256
        );
    }

    #[test]
    fn invalid_catalogs_are_typed_errors() {
        for json in [
            "{",
            r#"{"models": [{"id": "x"}]}"#,
            &Catalog::builtin_json().replace("ggml-model-i2_s.gguf\"", "../escape.gguf\""),
            &Catalog::builtin_json().replace("4221b252", "4221B252"),
            &Catalog::builtin_json().replace("https://huggingface", "file:///huggingface"),
            &Catalog::builtin_json().replace("bitnet-demo-i2_s.gguf", "ggml-model-i2_s.gguf"),
        ] {
            assert!(
                matches!(Catalog::from_json(json), Err(StoreError::Catalog { .. })),
                "{json}"
            );
        }
    }

    impl Catalog {
        fn builtin_json() -> String {
            include_str!("catalog.json").to_owned()
        }
    }
}
