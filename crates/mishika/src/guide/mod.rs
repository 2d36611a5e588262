//! Guides: longer documentation than one item's, with examples that compile.

#[doc = include_str!("writing_a_provider.md")]
pub mod writing_a_provider {}
