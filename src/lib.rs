//! Not published: the root package of the mishika workspace holds the runnable examples,
//! the cross-crate integration tests and, here, the README's snippets as doc tests.
//!
//! Its dev-dependencies are what a user's project would have (`mishika` with `config`,
//! `mishika-core` with `mock`, `mishika-mock`, `tokio` with `macros` and `rt-multi-thread`,
//! `futures-util`, `serde_json`), so each snippet is compiled as the whole `src/main.rs` it
//! shows, by `cargo test --workspace --doc`.

/// The README's snippets, compiled (and, unless `no_run`, run) as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
