//! The prefix router: `prefix/model` → the provider registered for `prefix`.

use std::sync::Arc;

use mishika_core::{Error, ErrorKind, Provider};

/// Providers by routing prefix. The longest matching prefix wins; only that prefix and
/// its slash are stripped (`mishikallm_proxy/openai/gpt-4o` reaches the proxy as
/// `openai/gpt-4o`).
#[derive(Debug, Clone, Default)]
pub struct Router {
    /// Sorted longest prefix first.
    routes: Vec<Route>,
}

/// One registered provider.
#[derive(Debug, Clone)]
pub(crate) struct Route {
    prefix: String,
    pub(crate) provider: Arc<dyn Provider>,
    /// The provider's name, shared by every call rather than copied into each.
    pub(crate) name: Arc<str>,
}

impl Router {
    /// Register `provider` under `prefix`, replacing any provider already there.
    pub fn register(&mut self, prefix: impl Into<String>, provider: Arc<dyn Provider>) {
        let prefix = prefix.into().trim_end_matches('/').to_owned();
        self.routes.retain(|route| route.prefix != prefix);
        let name = Arc::from(provider.name());
        self.routes.push(Route {
            prefix,
            provider,
            name,
        });
        self.routes.sort_by(|a, b| {
            b.prefix
                .len()
                .cmp(&a.prefix.len())
                .then(a.prefix.cmp(&b.prefix))
        });
    }

    /// The registered prefixes, sorted.
    pub fn prefixes(&self) -> Vec<&str> {
        let mut prefixes: Vec<&str> = self.routes.iter().map(|r| r.prefix.as_str()).collect();
        prefixes.sort_unstable();
        prefixes
    }

    /// The provider registered under exactly `prefix`.
    pub fn provider(&self, prefix: &str) -> Result<&Arc<dyn Provider>, Error> {
        let prefix = prefix.trim_end_matches('/');
        self.routes
            .iter()
            .find(|route| route.prefix == prefix)
            .map(|route| &route.provider)
            .ok_or_else(|| {
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

    /// [`resolve`](Router::resolve), giving the whole route (provider and shared name).
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
        let mut router = Router::default();
        router.register("a", Arc::new(Named("a")));
        router.register("a/b", Arc::new(Named("ab")));
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
}
