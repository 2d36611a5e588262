//! The provider registry: `prefix/model` → the provider registered for `prefix`.

use std::sync::Arc;

use mishika_core::{Error, ErrorKind, Provider, ProviderSpec};

use crate::settings::ProviderSettings;

/// Providers by routing prefix. The longest matching prefix wins; only that prefix and
/// its slash are stripped (`mishikallm_proxy/openai/gpt-4o` reaches the proxy as
/// `openai/gpt-4o`).
#[derive(Debug, Clone, Default)]
pub struct ProviderRegistry {
    /// Sorted longest prefix first.
    routes: Vec<Route>,
}

/// One registered provider, with what every call to it needs read once.
#[derive(Debug, Clone)]
pub(crate) struct Route {
    pub(crate) prefix: String,
    pub(crate) provider: Arc<dyn Provider>,
    /// The provider's name, shared by every call rather than copied into each.
    pub(crate) name: Arc<str>,
    /// The provider's spec, asked once at registration.
    pub(crate) spec: ProviderSpec,
    /// The client's settings for this provider (and for no other).
    pub(crate) settings: ProviderSettings,
}

impl ProviderRegistry {
    /// Register `provider` under `prefix` (a trailing `/` is ignored), returning the
    /// provider it replaces, if one was registered there, as object_store's registry does.
    ///
    /// Fails with a `Config` error on an empty prefix or one with white space.
    pub fn register(
        &mut self,
        prefix: impl Into<String>,
        provider: Arc<dyn Provider>,
    ) -> Result<Option<Arc<dyn Provider>>, Error> {
        let prefix = prefix.into().trim_end_matches('/').to_owned();
        if prefix.is_empty() || prefix.chars().any(char::is_whitespace) {
            return Err(Error::config(format!(
                "a provider prefix must be a non-empty name without white space, got {prefix:?}"
            )));
        }
        let replaced = self
            .routes
            .iter()
            .position(|route| route.prefix == prefix)
            .map(|index| self.routes.remove(index).provider);
        let name = Arc::from(provider.name());
        let spec = provider.spec();
        self.routes.push(Route {
            prefix,
            provider,
            name,
            spec,
            settings: ProviderSettings::default(),
        });
        self.routes.sort_by(|a, b| {
            b.prefix
                .len()
                .cmp(&a.prefix.len())
                .then(a.prefix.cmp(&b.prefix))
        });
        Ok(replaced)
    }

    /// Give the provider under `prefix` the client's `settings` for it.
    pub(crate) fn configure(
        &mut self,
        prefix: &str,
        settings: ProviderSettings,
    ) -> Result<(), Error> {
        let prefix = prefix.trim_end_matches('/');
        let known = self.prefixes().join(", ");
        match self.routes.iter_mut().find(|route| route.prefix == prefix) {
            Some(route) => {
                route.settings = settings;
                Ok(())
            }
            None => Err(Error::new(
                ErrorKind::UnknownProvider,
                format!(
                    "settings given for `{prefix}`, which no provider is registered under; registered prefixes: {known}"
                ),
            )),
        }
    }

    /// The route registered under exactly `prefix`.
    pub(crate) fn route(&self, prefix: &str) -> Option<&Route> {
        self.routes.iter().find(|route| route.prefix == prefix)
    }

    /// The registered prefixes, sorted.
    pub fn prefixes(&self) -> Vec<&str> {
        let mut prefixes: Vec<&str> = self.routes.iter().map(|r| r.prefix.as_str()).collect();
        prefixes.sort_unstable();
        prefixes
    }

    /// The provider registered under exactly `prefix`.
    pub fn provider(&self, prefix: &str) -> Result<&Arc<dyn Provider>, Error> {
        self.route_named(prefix).map(|route| &route.provider)
    }

    /// The route registered under exactly `prefix`, or the error listing the known ones.
    pub(crate) fn route_named(&self, prefix: &str) -> Result<&Route, Error> {
        let prefix = prefix.trim_end_matches('/');
        self.route(prefix).ok_or_else(|| {
            Error::new(
                ErrorKind::UnknownProvider,
                format!(
                    "no provider registered under `{prefix}`; registered prefixes: {}",
                    self.prefixes().join(", ")
                ),
            )
        })
    }

    /// The provider for `model` and the length of the prefix to strip (prefix + `/`).
    pub fn resolve(&self, model: &str) -> Result<(&Arc<dyn Provider>, usize), Error> {
        self.resolve_route(model)
            .map(|(route, strip)| (&route.provider, strip))
    }

    /// [`resolve`](ProviderRegistry::resolve), giving the whole route (provider and shared name).
    pub(crate) fn resolve_route(&self, model: &str) -> Result<(&Route, usize), Error> {
        for route in &self.routes {
            let prefix = &route.prefix;
            if let Some(rest) = model.strip_prefix(prefix.as_str()) {
                if let Some(name) = rest.strip_prefix('/') {
                    if name.is_empty() {
                        return Err(Error::new(
                            ErrorKind::UnknownProvider,
                            format!("model `{model}` names no model after the prefix `{prefix}/`"),
                        ));
                    }
                    return Ok((route, prefix.len() + 1));
                }
            }
        }
        Err(Error::new(
            ErrorKind::UnknownProvider,
            format!(
                "no provider for model `{model}`: name it as `<prefix>/<model>` with one of the \
                 registered prefixes: {}",
                self.prefixes().join(", ")
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Named(&'static str);

    #[async_trait::async_trait]
    impl Provider for Named {
        fn name(&self) -> &str {
            self.0
        }
    }

    #[test]
    fn longest_prefix_wins_and_only_it_is_stripped() {
        let mut router = ProviderRegistry::default();
        assert!(
            router
                .register("a", Arc::new(Named("a")))
                .unwrap()
                .is_none()
        );
        assert!(
            router
                .register("a/b", Arc::new(Named("ab")))
                .unwrap()
                .is_none()
        );
        let (provider, strip) = router.resolve("a/b/c").unwrap();
        assert_eq!((provider.name(), &"a/b/c"[strip..]), ("ab", "c"));
        let (provider, strip) = router.resolve("a/openai/gpt-4o").unwrap();
        assert_eq!(
            (provider.name(), &"a/openai/gpt-4o"[strip..]),
            ("a", "openai/gpt-4o")
        );
        let error = router.resolve("ab/x").unwrap_err();
        assert_eq!(error.kind(), ErrorKind::UnknownProvider);
        assert!(error.message().contains("a, a/b"), "{}", error.message());
        assert_eq!(
            router.resolve("a/").unwrap_err().kind(),
            ErrorKind::UnknownProvider
        );
        assert_eq!(
            router.resolve("gpt-4o").unwrap_err().kind(),
            ErrorKind::UnknownProvider
        );
    }

    #[test]
    fn registering_again_returns_the_replaced_provider_and_bad_prefixes_fail() {
        let mut router = ProviderRegistry::default();
        assert!(
            router
                .register("x/", Arc::new(Named("first")))
                .unwrap()
                .is_none()
        );
        let replaced = router.register("x", Arc::new(Named("second"))).unwrap();
        assert_eq!(
            replaced.map(|p| p.name().to_owned()).as_deref(),
            Some("first")
        );
        assert_eq!(router.prefixes(), ["x"]);
        assert_eq!(router.resolve("x/m").unwrap().0.name(), "second");
        for bad in ["", "/", "a b", " "] {
            let error = router.register(bad, Arc::new(Named("bad"))).unwrap_err();
            assert_eq!(error.kind(), ErrorKind::Config, "{bad:?}");
        }
    }

    #[test]
    fn settings_reach_the_named_provider_only() {
        let mut router = ProviderRegistry::default();
        router.register("a", Arc::new(Named("a"))).unwrap();
        router.register("b", Arc::new(Named("b"))).unwrap();
        router
            .configure("b/", ProviderSettings::new().api_base("http://b:1"))
            .unwrap();
        let base = |prefix: &str| {
            router
                .route(prefix)
                .and_then(|r| r.settings.api_base.clone())
        };
        assert_eq!(base("b").as_deref(), Some("http://b:1"));
        assert_eq!(base("a"), None);
        let error = router.configure("c", ProviderSettings::new()).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::UnknownProvider);
        assert_eq!(
            error.message(),
            "settings given for `c`, which no provider is registered under; registered prefixes: a, b"
        );
    }

    #[test]
    fn a_route_is_found_by_its_exact_prefix() {
        let mut router = ProviderRegistry::default();
        router.register("a", Arc::new(Named("first"))).unwrap();
        router.register("ab", Arc::new(Named("second"))).unwrap();
        assert_eq!(router.route("a").map(|r| r.provider.name()), Some("first"));
        assert_eq!(router.route("ab").map(|r| &*r.name), Some("second"));
        assert!(router.route("b").is_none());
        assert_eq!(router.provider("ab/").unwrap().name(), "second");
        let error = router.provider("x").unwrap_err();
        assert_eq!(error.kind(), ErrorKind::UnknownProvider);
        assert_eq!(
            error.message(),
            "no provider registered under `x`; registered prefixes: a, ab"
        );
        assert_eq!(router.prefixes(), ["a", "ab"]);
    }
}
