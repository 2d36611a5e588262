//! Per-provider settings: what a client or the process sets for one provider, and how a
//! call's settings resolve from them (request > client > process-wide > the provider's
//! environment > its default). A provider is only ever handed its own.

use std::fmt;
use std::sync::{Arc, RwLock};

use http::{HeaderMap, HeaderName, HeaderValue};
use mishika_core::secret::{is_credential_header, redact_url};
use mishika_core::{ApiKey, Error, ProviderSpec, RequestOptions};

use crate::providers::proxy;

/// The base URL, key and headers of one provider, set on a client
/// ([`ClientBuilder::provider_settings`](crate::ClientBuilder::provider_settings)) or
/// process-wide ([`set_provider_settings`](crate::set_provider_settings)).
///
/// ```
/// use mishika::{Client, ProviderSettings};
///
/// let client = Client::builder()
///     .api_base("http://localhost:4000") // the proxy's
///     .provider_settings(
///         "openai",
///         ProviderSettings::new().api_key("sk-openai").header("OpenAI-Project", "proj_1"),
///     )
///     .build()?;
/// # let _ = client; Ok::<(), mishika::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct ProviderSettings {
    pub(crate) api_base: Option<String>,
    pub(crate) api_key: Option<ApiKey>,
    pub(crate) headers: HeaderMap,
    /// The first invalid header, reported when the client is built (or the settings set).
    pub(crate) invalid: Option<InvalidHeader>,
}

impl fmt::Debug for ProviderSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Header values may carry credentials: only their names are shown.
        let names: Vec<&str> = self.headers.keys().map(HeaderName::as_str).collect();
        f.debug_struct("ProviderSettings")
            .field("api_base", &self.api_base.as_deref().map(redact_url))
            .field("api_key", &self.api_key)
            .field("headers", &names)
            .finish()
    }
}

impl ProviderSettings {
    /// No settings: everything comes from the request, the environment or the default.
    pub fn new() -> ProviderSettings {
        ProviderSettings::default()
    }

    /// The provider's base URL.
    #[must_use]
    pub fn api_base(mut self, api_base: impl Into<String>) -> ProviderSettings {
        self.api_base = Some(api_base.into());
        self
    }

    /// The provider's key, sent the provider's way (`Authorization: Bearer`, `x-api-key` …).
    #[must_use]
    pub fn api_key(mut self, api_key: impl Into<ApiKey>) -> ProviderSettings {
        self.api_key = Some(api_key.into());
        self
    }

    /// A header sent on every request to this provider (and to no other). An invalid name
    /// or value is a `Config` error when the client is built.
    #[must_use]
    pub fn header(mut self, name: impl AsRef<str>, value: impl AsRef<str>) -> ProviderSettings {
        match parse_header(name.as_ref(), value.as_ref()) {
            Ok((name, value)) => {
                self.headers.insert(name, value);
            }
            Err(invalid) => {
                self.invalid.get_or_insert(invalid);
            }
        }
        self
    }

    /// The `Config` error of an invalid header given to these settings.
    pub(crate) fn check(&self) -> Result<(), Error> {
        match &self.invalid {
            Some(invalid) => Err(invalid.error()),
            None => Ok(()),
        }
    }
}

/// A header the settings could not take, kept with its cause until the client is built
/// (settings are `Clone`; `http`'s parse errors are not, hence the `Arc`).
#[derive(Clone)]
pub(crate) struct InvalidHeader {
    message: String,
    cause: Arc<dyn std::error::Error + Send + Sync>,
}

impl InvalidHeader {
    fn new(message: String, cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        InvalidHeader {
            message,
            cause: Arc::new(cause),
        }
    }

    /// The `Config` error to report, with the parse error as its source.
    fn error(&self) -> Error {
        Error::config(self.message.clone()).with_source(Arc::clone(&self.cause))
    }
}

/// A header name and value, or what is wrong with them.
fn parse_header(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), InvalidHeader> {
    let name = HeaderName::from_bytes(name.as_bytes())
        .map_err(|e| InvalidHeader::new(format!("invalid header name {name:?}"), e))?;
    let mut value = HeaderValue::from_str(value)
        .map_err(|e| InvalidHeader::new(format!("invalid value for header {name}"), e))?;
    if is_credential_header(name.as_str()) {
        value.set_sensitive(true);
    }
    Ok((name, value))
}

/// Settings made with [`set_api_base`], [`set_api_key`] and [`set_provider_settings`], by
/// prefix.
static PROCESS_WIDE: RwLock<Vec<(String, ProviderSettings)>> = RwLock::new(Vec::new());

/// The process-wide settings of `prefix`, if any were set.
pub(crate) fn process_wide(prefix: &str) -> Option<ProviderSettings> {
    let guard = match PROCESS_WIDE.read() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    };
    guard
        .iter()
        .find(|(known, _)| known == prefix)
        .map(|(_, settings)| settings.clone())
}

fn update_process_wide(prefix: &str, update: impl FnOnce(&mut ProviderSettings)) {
    let mut guard = match PROCESS_WIDE.write() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    };
    let prefix = prefix.trim_end_matches('/');
    let index = match guard.iter().position(|(known, _)| known == prefix) {
        Some(index) => index,
        None => {
            guard.push((prefix.to_owned(), ProviderSettings::default()));
            guard.len() - 1
        }
    };
    update(&mut guard[index].1);
}

/// Set the proxy's base URL for the free functions (beats the environment; a request's own
/// `.api_base(..)` beats it).
pub fn set_api_base(api_base: impl Into<String>) {
    let api_base = api_base.into();
    update_process_wide(proxy::PREFIX, |settings| settings.api_base = Some(api_base));
}

/// Set the proxy's key for the free functions (beats the environment; a request's own
/// `.api_key(..)` beats it).
pub fn set_api_key(api_key: impl Into<ApiKey>) {
    let api_key = api_key.into();
    update_process_wide(proxy::PREFIX, |settings| settings.api_key = Some(api_key));
}

/// Set the settings of the provider under `prefix` for the free functions, replacing any
/// set before (`openai`, `anthropic`, a provider of your own …). Fails with a `Config`
/// error on an invalid header.
pub fn set_provider_settings(
    prefix: impl AsRef<str>,
    settings: ProviderSettings,
) -> Result<(), Error> {
    settings.check()?;
    update_process_wide(prefix.as_ref(), |slot| *slot = settings);
    Ok(())
}

/// Forget every process-wide setting: the free functions fall back to the environment.
pub fn clear_process_settings() {
    let mut guard = match PROCESS_WIDE.write() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    };
    guard.clear();
}

/// Resolve one call's base, key and headers for a provider: the request's, else the
/// client's, else the process-wide ones, else the provider's environment, else its
/// default. Headers layer the same way, by name. A blank key (empty or whitespace) is no
/// key: the next layer's applies.
pub(crate) fn resolve(
    spec: &ProviderSpec,
    client: &ProviderSettings,
    process: Option<&ProviderSettings>,
    options: &RequestOptions,
) -> (Option<String>, Option<ApiKey>, HeaderMap) {
    let api_base = options
        .api_base
        .clone()
        .or_else(|| client.api_base.clone())
        .or_else(|| process.and_then(|settings| settings.api_base.clone()))
        .or_else(|| spec.env_api_base.and_then(read_env))
        .or_else(|| spec.default_api_base.map(str::to_owned));
    let usable = |key: &Option<ApiKey>| key.as_ref().filter(|key| !key.is_blank()).cloned();
    let api_key = usable(&options.api_key)
        .or_else(|| usable(&client.api_key))
        .or_else(|| process.and_then(|settings| usable(&settings.api_key)))
        .or_else(|| spec.env_api_key.and_then(read_env).map(ApiKey::from));
    let simple = spec.env_headers.is_empty() && process.is_none() && options.headers.is_empty();
    let headers = if simple {
        client.headers.clone()
    } else {
        let mut headers = HeaderMap::new();
        for (variable, header) in spec.env_headers {
            let value = read_env(variable).and_then(|value| HeaderValue::from_str(&value).ok());
            if let (Ok(name), Some(mut value)) = (HeaderName::from_bytes(header.as_bytes()), value)
            {
                value.set_sensitive(is_credential_header(name.as_str()));
                headers.insert(name, value);
            }
        }
        let layers = [
            process.map(|settings| &settings.headers),
            Some(&client.headers),
        ];
        for layer in layers.into_iter().flatten().chain([&options.headers]) {
            for (name, value) in layer {
                headers.insert(name.clone(), value.clone());
            }
        }
        headers
    };
    (api_base, api_key, headers)
}

fn read_env(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

/// Whether the environment asks for every model to go to the proxy
/// (`MISHIKALLM_PROXY=true`, `1`, `yes` or `on`).
pub(crate) fn force_proxy_from_env() -> bool {
    read_env(proxy::ENV_FORCE).is_some_and(|value| {
        matches!(
            value.to_ascii_lowercase().as_str(),
            "true" | "1" | "yes" | "on"
        )
    })
}
