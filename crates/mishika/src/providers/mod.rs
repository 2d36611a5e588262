//! The built-in backends, each registered under its prefix in every default client:
//!
//! | prefix | backend | wire |
//! |---|---|---|
//! | `mishikallm_proxy/` | the MishikaLLM Proxy ([`proxy`]) | OpenAI's, `{base}/v1/…`, Bearer |
//! | `openai/` | OpenAI or any server that speaks its API ([`openai`]) | OpenAI's, `{base}/…`, Bearer |
//! | `anthropic/` | Anthropic's Messages API ([`anthropic`]) | `POST {base}/v1/messages`, `x-api-key` |
//!
//! Each reads only its own environment variables and is handed only its own settings.

pub mod anthropic;
pub mod openai;
mod openai_wire;
pub mod proxy;

pub use anthropic::Anthropic;
pub use openai_wire::OpenAiCompatible;
