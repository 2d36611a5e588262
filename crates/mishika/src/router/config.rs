//! Reading the `config.yaml` a LiteLLM proxy reads into a [`RouterBuilder`] (the `config`
//! feature).
//!
//! ```no_run
//! use std::time::Duration;
//! use mishika::router::{Router, RouterBuilder};
//!
//! # fn run() -> mishika::Result<()> {
//! // The whole file, built at once (ignored keys are logged as warnings):
//! let router = Router::from_config_file("config.yaml")?;
//!
//! // Or the builder, to see what was ignored and to add to it before building:
//! let builder = RouterBuilder::from_config_file("config.yaml")?;
//! for key in builder.ignored_config_keys() {
//!     eprintln!("not used by mishika: {key}");
//! }
//! let router = builder.cooldown_time(Duration::from_secs(10)).build()?;
//! # let _ = router; Ok(()) }
//! ```
//!
//! **What is read.**
//!
//! - `model_list`: each entry is a [`Deployment`] of the group `model_name`, calling
//!   `litellm_params.model` with its `api_base`, `api_key`, `rpm`, `tpm`, `weight`,
//!   `timeout` (seconds) and `max_retries`; `model_info.id` is its id, and
//!   `model_info.max_input_tokens` / `max_output_tokens` (or the older `max_tokens`) its
//!   context window and answer size. `rpm` and `tpm` may also sit beside `litellm_params`,
//!   as older configs have them.
//! - The model: `litellm_proxy/<x>` becomes mishika's `mishikallm_proxy/<x>`; every other
//!   prefix (`openai/`, `anthropic/`, `azure/`, `bedrock/` …) stays as written, and the
//!   client reports one no provider is registered under when it is built
//!   ([`ClientBuilder::build`](crate::ClientBuilder::build)) — register your own with
//!   [`ClientBuilder::provider`](crate::ClientBuilder::provider). `custom_llm_provider`
//!   puts its prefix in front of the model. A model without a prefix, whose provider
//!   LiteLLM infers from its own model list, is taken as `anthropic/<x>` when its name
//!   starts with `claude`, else as `openai/<x>`: write the prefix for anything else.
//! - Wildcard groups: a `model_name` with `*` (`openai/*`, `bedrock/meta.llama3*`) serves
//!   every requested model it matches that no group is named after, and a deployment
//!   model with `*` (`openai/*`) calls the requested model's matching part in its place
//!   (see [`RouterBuilder::deployment`]).
//! - `router_settings`: `routing_strategy` (see [`Strategy::from_litellm`]; one mishika
//!   does not have is an error), `num_retries`, `allowed_fails`, `cooldown_time`
//!   (seconds), `retry_policy` (`RateLimitErrorRetries`, `TimeoutErrorRetries`,
//!   `BadRequestErrorRetries`, `AuthenticationErrorRetries`,
//!   `ContentPolicyViolationErrorRetries`, `InternalServerErrorRetries`, to
//!   [`retries_for`](RouterBuilder::retries_for)), `allowed_fails_policy` (the same
//!   errors with `…AllowedFails`, to [`allowed_fails_for`](RouterBuilder::allowed_fails_for)),
//!   `fallbacks`, `context_window_fallbacks`, `content_policy_fallbacks` (LiteLLM's list
//!   of one-key maps, `[{"gpt-4o": ["claude"]}]`; a `"*"` key in `fallbacks` gives the
//!   default fallbacks), `default_fallbacks`, `max_fallbacks`, `enable_pre_call_checks`
//!   and `timeout` (seconds, to [`RouterBuilder::timeout`]); `retry_policy` also takes
//!   `ServiceUnavailableErrorRetries`, `NotFoundErrorRetries` and `DefaultRetries` (every
//!   error the policy does not name, to
//!   [`default_retries`](RouterBuilder::default_retries)), and
//!   `model_group_retry_policy` (a group to such a map, to
//!   [`group_retries_for`](RouterBuilder::group_retries_for): a group's own policy
//!   replaces `retry_policy` for it), `disable_cooldowns` (to
//!   [`disable_cooldowns`](RouterBuilder::disable_cooldowns)) and `model_group_alias` (an
//!   alias to a group's name, or to `{model: <group>, hidden: true}`, to
//!   [`group_alias`](RouterBuilder::group_alias)).
//! - `litellm_settings`: `num_retries`, `request_timeout` (as the router's `timeout`),
//!   `allowed_fails`, `cooldown_time` and the four fallback keys. Where `router_settings`
//!   sets the same, it wins.
//! - `environment_variables`: the values `os.environ/NAME` finds first, as the proxy sets
//!   them into its environment at start.
//!
//! **`os.environ/NAME`**, wherever a value is read, is the environment variable's value (a
//! number or a flag is parsed from it). A variable that is not set is an error naming it.
//!
//! **Everything else** — `general_settings`, the other `litellm_settings`, `litellm_params`
//! such as `temperature` or `drop_params`, `model_info.mode`, redis settings, a
//! `litellm_settings` key that `router_settings` overrides — is not
//! used: each such key is logged as a warning (target `mishika::router`) and listed, as a
//! dotted path like `model_list[2].litellm_params.drop_params`, by
//! [`RouterBuilder::ignored_config_keys`]. Values under ignored keys are not read, so an
//! `os.environ/` there needs no variable.
//!
//! **Errors** are [`Error`]s of kind [`ErrorKind::Config`] whose message names the file
//! (or the origin name given), the entry and the key:
//! `config.yaml: model_list[1] (gpt-4o): litellm_params.rpm: expected a number, got "fast"`.
//! A YAML syntax error keeps its line and column; a file that cannot be read is a `Config`
//! error too, with the I/O error as its source. The fallbacks are checked against the
//! groups when the router is built.

use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::path::Path;
use std::time::Duration;

use mishika_core::{Error, ErrorKind};
use yaml_serde::{Mapping, Value};

use super::{Deployment, Router, RouterBuilder, Strategy};

/// A value that is the named environment variable's value.
const ENV_PREFIX: &str = "os.environ/";

#[cfg_attr(docsrs, doc(cfg(feature = "config")))]
impl RouterBuilder {
    /// A builder holding the deployments and router settings of the LiteLLM `config.yaml`
    /// at `path` (see the [module documentation](crate::router::config) for what is read).
    /// Errors name the file; `os.environ/NAME` values come from the process environment.
    pub fn from_config_file(path: impl AsRef<Path>) -> Result<RouterBuilder, Error> {
        let path = path.as_ref();
        let origin = path.display().to_string();
        let yaml = std::fs::read_to_string(path).map_err(|error| {
            Error::config(format!("{origin}: the config file cannot be read")).with_source(error)
        })?;
        RouterBuilder::from_config_str(&yaml, &origin)
    }

    /// [`from_config_file`](RouterBuilder::from_config_file) for the YAML text `yaml`;
    /// `origin` names it in errors and warnings (a file name, "config.yaml from the
    /// secret store" …).
    pub fn from_config_str(yaml: &str, origin: &str) -> Result<RouterBuilder, Error> {
        RouterBuilder::from_config_str_with_env(yaml, origin, |name| std::env::var(name).ok())
    }

    /// [`from_config_str`](RouterBuilder::from_config_str) with `os.environ/NAME` values
    /// looked up by `env` instead of in the process environment (after the file's own
    /// `environment_variables`).
    pub fn from_config_str_with_env(
        yaml: &str,
        origin: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<RouterBuilder, Error> {
        let mut reader = Reader {
            origin,
            env: &env,
            file_env: HashMap::new(),
            ignored: Vec::new(),
        };
        let mut builder = reader.read(yaml)?;
        builder.ignored_config_keys = reader.ignored;
        Ok(builder)
    }

    /// The keys of the config this builder was read from that mishika does not use, as
    /// dotted paths (`general_settings.master_key`,
    /// `model_list[2].litellm_params.drop_params`), in the file's order. Empty for a
    /// builder not read from a config.
    pub fn ignored_config_keys(&self) -> &[String] {
        &self.ignored_config_keys
    }
}

#[cfg_attr(docsrs, doc(cfg(feature = "config")))]
impl Router {
    /// The router the LiteLLM `config.yaml` at `path` describes:
    /// [`RouterBuilder::from_config_file`], then [`build`](RouterBuilder::build) (whose
    /// errors name the file too).
    pub fn from_config_file(path: impl AsRef<Path>) -> Result<Router, Error> {
        let origin = path.as_ref().display().to_string();
        build_named(RouterBuilder::from_config_file(path)?, &origin)
    }

    /// The router the LiteLLM config text `yaml` describes; `origin` names it in errors:
    /// [`RouterBuilder::from_config_str`], then [`build`](RouterBuilder::build).
    pub fn from_config_str(yaml: &str, origin: &str) -> Result<Router, Error> {
        build_named(RouterBuilder::from_config_str(yaml, origin)?, origin)
    }
}

/// Build `builder`, a build error naming `origin`.
fn build_named(builder: RouterBuilder, origin: &str) -> Result<Router, Error> {
    builder
        .build()
        .map_err(|error| Error::config(format!("{origin}: {}", error.message())))
}

/// The router settings both `router_settings` and `litellm_settings` may give.
#[derive(Default)]
struct Settings {
    strategy: Option<Strategy>,
    num_retries: Option<u32>,
    allowed_fails: Option<u64>,
    cooldown_time: Option<Duration>,
    /// Kinds to retries; no kind: `DefaultRetries`.
    retry_policy: Vec<(Option<ErrorKind>, u32)>,
    allowed_fails_policy: Vec<(ErrorKind, u64)>,
    fallbacks: Option<Fallbacks>,
    context_window_fallbacks: Option<Fallbacks>,
    content_policy_fallbacks: Option<Fallbacks>,
    default_fallbacks: Option<Vec<String>>,
    max_fallbacks: Option<u32>,
    pre_call_checks: Option<bool>,
    timeout: Option<Duration>,
    disable_cooldowns: Option<bool>,
    aliases: Vec<(String, String)>,
    group_retry_policy: Vec<(String, Option<ErrorKind>, u32)>,
}

/// Groups and the groups they fall back to, in the file's order.
type Fallbacks = Vec<(String, Vec<String>)>;

impl Settings {
    /// Put the settings on `builder`.
    fn apply(self, mut builder: RouterBuilder) -> RouterBuilder {
        if let Some(strategy) = self.strategy {
            builder = builder.strategy(strategy);
        }
        if let Some(retries) = self.num_retries {
            builder = builder.num_retries(retries);
        }
        if let Some(fails) = self.allowed_fails {
            builder = builder.allowed_fails(fails);
        }
        if let Some(time) = self.cooldown_time {
            builder = builder.cooldown_time(time);
        }
        for (kind, retries) in self.retry_policy {
            builder = match kind {
                Some(kind) => builder.retries_for(kind, retries),
                None => builder.default_retries(retries),
            };
        }
        for (kind, fails) in self.allowed_fails_policy {
            builder = builder.allowed_fails_for(kind, fails);
        }
        let mut star = None;
        for (group, to) in self.fallbacks.unwrap_or_default() {
            if group == "*" {
                star = Some(to);
            } else {
                builder = builder.fallbacks(group, to);
            }
        }
        for (group, to) in self.context_window_fallbacks.unwrap_or_default() {
            builder = builder.context_window_fallbacks(group, to);
        }
        for (group, to) in self.content_policy_fallbacks.unwrap_or_default() {
            builder = builder.content_policy_fallbacks(group, to);
        }
        if let Some(to) = self.default_fallbacks.or(star) {
            builder = builder.default_fallbacks(to);
        }
        if let Some(fallbacks) = self.max_fallbacks {
            builder = builder.max_fallbacks(fallbacks);
        }
        if let Some(enable) = self.pre_call_checks {
            builder = builder.pre_call_checks(enable);
        }
        if let Some(timeout) = self.timeout {
            builder = builder.timeout(timeout);
        }
        if let Some(disable) = self.disable_cooldowns {
            builder = builder.disable_cooldowns(disable);
        }
        for (alias, group) in self.aliases {
            builder = builder.group_alias(alias, group);
        }
        for (group, kind, retries) in self.group_retry_policy {
            builder = match kind {
                Some(kind) => builder.group_retries_for(group, kind, retries),
                None => builder.group_default_retries(group, retries),
            };
        }
        builder
    }
}

/// The LiteLLM error classes of `retry_policy` / `allowed_fails_policy` keys (before their
/// `Retries` / `AllowedFails` suffix) and the kinds they are.
const POLICY_ERRORS: [(&str, ErrorKind); 6] = [
    ("BadRequestError", ErrorKind::BadRequest),
    ("AuthenticationError", ErrorKind::Authentication),
    ("TimeoutError", ErrorKind::Timeout),
    ("RateLimitError", ErrorKind::RateLimit),
    (
        "ContentPolicyViolationError",
        ErrorKind::ContentPolicyViolation,
    ),
    ("InternalServerError", ErrorKind::InternalServer),
];

/// The LiteLLM error classes only `retry_policy` has keys for (with `Retries`).
const RETRY_ONLY_ERRORS: [(&str, ErrorKind); 2] = [
    ("ServiceUnavailableError", ErrorKind::ServiceUnavailable),
    ("NotFoundError", ErrorKind::NotFound),
];

/// The `router_settings` keys mishika reads.
const ROUTER_KEYS: [&str; 16] = [
    "disable_cooldowns",
    "model_group_alias",
    "model_group_retry_policy",
    "routing_strategy",
    "num_retries",
    "allowed_fails",
    "cooldown_time",
    "retry_policy",
    "allowed_fails_policy",
    "fallbacks",
    "context_window_fallbacks",
    "content_policy_fallbacks",
    "default_fallbacks",
    "max_fallbacks",
    "enable_pre_call_checks",
    "timeout",
];

/// The `litellm_settings` keys mishika reads, and the `router_settings` key each is.
const LITELLM_KEYS: [(&str, &str); 8] = [
    ("num_retries", "num_retries"),
    ("request_timeout", "timeout"),
    ("allowed_fails", "allowed_fails"),
    ("cooldown_time", "cooldown_time"),
    ("fallbacks", "fallbacks"),
    ("context_window_fallbacks", "context_window_fallbacks"),
    ("content_policy_fallbacks", "content_policy_fallbacks"),
    ("default_fallbacks", "default_fallbacks"),
];

/// A scalar as read, `os.environ/` resolved.
enum Scalar<'v> {
    Null,
    Text {
        text: String,
        /// The variable it came from.
        var: Option<String>,
    },
    Number(&'v yaml_serde::Number),
    Bool(bool),
    /// A list, map or tagged value.
    Other(&'v Value),
}

impl fmt::Display for Scalar<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scalar::Null => f.write_str("nothing"),
            Scalar::Text { text, var: None } => write!(f, "{text:?}"),
            // A variable may hold a secret: its value is never shown.
            Scalar::Text { var: Some(var), .. } => write!(f, "the value of {ENV_PREFIX}{var}"),
            Scalar::Number(number) => write!(f, "{number}"),
            Scalar::Bool(flag) => write!(f, "{flag}"),
            Scalar::Other(value) => f.write_str(shape(value)),
        }
    }
}

/// What kind of value `value` is, for messages.
fn shape(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a flag",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a map",
        Value::Tagged(_) => "a tagged value",
    }
}

/// A map key as text.
fn key_text(key: &Value) -> String {
    match key {
        Value::String(text) => text.clone(),
        Value::Number(number) => number.to_string(),
        Value::Bool(flag) => flag.to_string(),
        Value::Null => "~".to_owned(),
        other => format!("<{}>", shape(other)),
    }
}

/// Where a value sits: the entry (`model_list[1] (gpt-4o)`, `router_settings`) and the
/// key inside it (`litellm_params.rpm`).
#[derive(Clone, Copy)]
struct At<'a> {
    entry: &'a str,
    key: &'a str,
}

/// One pass over a config.
struct Reader<'a> {
    origin: &'a str,
    env: &'a dyn Fn(&str) -> Option<String>,
    /// The file's `environment_variables`.
    file_env: HashMap<String, String>,
    ignored: Vec<String>,
}

impl Reader<'_> {
    fn read(&mut self, yaml: &str) -> Result<RouterBuilder, Error> {
        let mut root: Value = yaml_serde::from_str(yaml).map_err(|error| {
            let place = error
                .location()
                .map(|at| format!(" at line {}, column {}", at.line(), at.column()))
                .unwrap_or_default();
            Error::config(format!("{}: not valid YAML{place}", self.origin)).with_source(error)
        })?;
        root.apply_merge().map_err(|error| {
            Error::config(format!(
                "{}: a merge key (<<) cannot be applied",
                self.origin
            ))
            .with_source(error)
        })?;
        let root = match root {
            Value::Mapping(root) => root,
            Value::Null => Mapping::new(),
            other => {
                return Err(Error::config(format!(
                    "{}: expected a map of sections (model_list, router_settings …), got {}",
                    self.origin,
                    shape(&other)
                )));
            }
        };
        if let Some(variables) = root.get("environment_variables") {
            self.environment_variables(variables)?;
        }
        let router_settings = match root.get("router_settings") {
            None | Some(Value::Null) => None,
            Some(Value::Mapping(settings)) => Some(settings),
            Some(other) => return Err(self.section_error("router_settings", other)),
        };
        let mut builder = RouterBuilder::default();
        let mut settings = Settings::default();
        for (key, value) in &root {
            let name = key_text(key);
            match name.as_str() {
                "environment_variables" => {}
                "model_list" => builder = self.model_list(value, builder)?,
                "router_settings" => {
                    if let Some(section) = router_settings {
                        self.router_settings(section, &mut settings)?;
                    }
                }
                "litellm_settings" => {
                    self.litellm_settings(value, router_settings, &mut settings)?;
                }
                _ => match value {
                    Value::Mapping(section) if !section.is_empty() => {
                        for key in section.keys() {
                            self.ignore(format!("{name}.{}", key_text(key)), "not used");
                        }
                    }
                    _ => self.ignore(name, "not used"),
                },
            }
        }
        Ok(settings.apply(builder))
    }

    /// Note `path` as not used, and warn.
    fn ignore(&mut self, path: String, reason: &str) {
        tracing::warn!(
            target: "mishika::router",
            origin = %self.origin, key = %path,
            "config key not used by mishika: {reason}"
        );
        self.ignored.push(path);
    }

    fn error(&self, at: At<'_>, problem: impl fmt::Display) -> Error {
        Error::config(format!(
            "{}: {}: {}: {problem}",
            self.origin, at.entry, at.key
        ))
    }

    fn section_error(&self, section: &str, value: &Value) -> Error {
        Error::config(format!(
            "{}: {section}: expected a map, got {}",
            self.origin,
            shape(value)
        ))
    }

    fn environment_variables(&mut self, value: &Value) -> Result<(), Error> {
        let variables = match value {
            Value::Null => return Ok(()),
            Value::Mapping(variables) => variables,
            other => return Err(self.section_error("environment_variables", other)),
        };
        for (key, value) in variables {
            let name = key_text(key);
            let at = At {
                entry: "environment_variables",
                key: &name,
            };
            if let Some(text) = self.text(value, at)? {
                self.file_env.insert(name, text);
            }
        }
        Ok(())
    }

    // -----------------------------------------------------------------------------------
    // Scalars.
    // -----------------------------------------------------------------------------------

    /// `value` with `os.environ/NAME` replaced by the variable's value.
    fn scalar<'v>(&self, value: &'v Value, at: At<'_>) -> Result<Scalar<'v>, Error> {
        Ok(match value {
            Value::Null => Scalar::Null,
            Value::Bool(flag) => Scalar::Bool(*flag),
            Value::Number(number) => Scalar::Number(number),
            Value::String(text) => match text.strip_prefix(ENV_PREFIX) {
                Some(var) => {
                    let var = var.trim();
                    let found = self.file_env.get(var).cloned().or_else(|| (self.env)(var));
                    match found {
                        Some(text) => Scalar::Text {
                            text,
                            var: Some(var.to_owned()),
                        },
                        None => {
                            return Err(self.error(
                                at,
                                format_args!(
                                    "the environment variable `{var}` is not set (the value \
                                     is {ENV_PREFIX}{var})"
                                ),
                            ));
                        }
                    }
                }
                None => Scalar::Text {
                    text: text.clone(),
                    var: None,
                },
            },
            other => Scalar::Other(other),
        })
    }

    /// A string (a number is taken as its text); `None` for nothing.
    fn text(&self, value: &Value, at: At<'_>) -> Result<Option<String>, Error> {
        match self.scalar(value, at)? {
            Scalar::Null => Ok(None),
            Scalar::Text { text, .. } => Ok(Some(text)),
            Scalar::Number(number) => Ok(Some(number.to_string())),
            other => Err(self.error(at, format_args!("expected a string, got {other}"))),
        }
    }

    /// A number, at least 0; `None` for nothing.
    fn number(&self, value: &Value, at: At<'_>) -> Result<Option<f64>, Error> {
        let scalar = self.scalar(value, at)?;
        let number = match &scalar {
            Scalar::Null => return Ok(None),
            Scalar::Number(number) => number.as_f64(),
            Scalar::Text { text, .. } => text.trim().parse::<f64>().ok(),
            Scalar::Bool(_) | Scalar::Other(_) => None,
        };
        match number {
            Some(number) if number.is_finite() && number >= 0.0 => Ok(Some(number)),
            Some(_) => Err(self.error(
                at,
                format_args!("expected a number of at least 0, got {scalar}"),
            )),
            None => Err(self.error(at, format_args!("expected a number, got {scalar}"))),
        }
    }

    /// A whole number, at least 0; `None` for nothing.
    fn whole(&self, value: &Value, at: At<'_>) -> Result<Option<u64>, Error> {
        if let Value::Number(number) = value {
            if let Some(whole) = number.as_u64() {
                return Ok(Some(whole));
            }
        }
        let Some(number) = self.number(value, at)? else {
            return Ok(None);
        };
        if number.fract() == 0.0 && number <= u64::MAX as f64 {
            return Ok(Some(number as u64));
        }
        let scalar = self.scalar(value, at)?;
        Err(self.error(at, format_args!("expected a whole number, got {scalar}")))
    }

    /// A count that fits `u32`; `None` for nothing.
    fn count(&self, value: &Value, at: At<'_>) -> Result<Option<u32>, Error> {
        match self.whole(value, at)? {
            None => Ok(None),
            Some(whole) => u32::try_from(whole)
                .map(Some)
                .map_err(|_| self.error(at, format_args!("{whole} is too large"))),
        }
    }

    /// Seconds (whole or not); `None` for nothing.
    fn seconds(&self, value: &Value, at: At<'_>) -> Result<Option<Duration>, Error> {
        match self.number(value, at)? {
            None => Ok(None),
            Some(seconds) => Duration::try_from_secs_f64(seconds)
                .map(Some)
                .map_err(|_| self.error(at, format_args!("{seconds} seconds is too long"))),
        }
    }

    /// A flag (`true` / `false`, in any case from a variable); `None` for nothing.
    fn flag(&self, value: &Value, at: At<'_>) -> Result<Option<bool>, Error> {
        let scalar = self.scalar(value, at)?;
        match &scalar {
            Scalar::Null => Ok(None),
            Scalar::Bool(flag) => Ok(Some(*flag)),
            Scalar::Text { text, .. } if text.trim().eq_ignore_ascii_case("true") => Ok(Some(true)),
            Scalar::Text { text, .. } if text.trim().eq_ignore_ascii_case("false") => {
                Ok(Some(false))
            }
            _ => Err(self.error(at, format_args!("expected true or false, got {scalar}"))),
        }
    }

    /// A list of group names (a single name is a list of one); `None` for nothing.
    fn groups(&self, value: &Value, at: At<'_>) -> Result<Option<Vec<String>>, Error> {
        let items = match value {
            Value::Null => return Ok(None),
            Value::Sequence(items) => items,
            single => {
                return match self.text(single, at)? {
                    Some(name) => Ok(Some(vec![name])),
                    None => Ok(None),
                };
            }
        };
        let mut names = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            let key = format!("{}[{index}]", at.key);
            let at = At { key: &key, ..at };
            match self.scalar(item, at)? {
                Scalar::Text { text, .. } => names.push(text),
                Scalar::Number(number) => names.push(number.to_string()),
                other => {
                    return Err(self.error(at, format_args!("expected a group name, got {other}")));
                }
            }
        }
        Ok(Some(names))
    }

    /// Fallbacks as LiteLLM writes them, a list of one-key maps
    /// (`[{"gpt-4o": ["claude"]}]`), or one map; `None` for nothing. A `"*"` group is kept
    /// where `star` (the general fallbacks: mishika's default fallbacks), else ignored.
    fn fallbacks(
        &mut self,
        value: &Value,
        at: At<'_>,
        star: bool,
    ) -> Result<Option<Fallbacks>, Error> {
        let maps: Vec<(String, &Mapping)> = match value {
            Value::Null => return Ok(None),
            Value::Mapping(map) => vec![(at.key.to_owned(), map)],
            Value::Sequence(items) => {
                let mut maps = Vec::with_capacity(items.len());
                for (index, item) in items.iter().enumerate() {
                    let key = format!("{}[{index}]", at.key);
                    match item {
                        Value::Mapping(map) => maps.push((key, map)),
                        other => {
                            let at = At { key: &key, ..at };
                            let scalar = self.scalar(other, at)?;
                            return Err(self.error(
                                at,
                                format_args!(
                                    "expected a map of a model group to the groups it falls \
                                     back to ({{\"gpt-4o\": [\"claude\"]}}), got {scalar}"
                                ),
                            ));
                        }
                    }
                }
                maps
            }
            other => {
                let scalar = self.scalar(other, at)?;
                return Err(self.error(
                    at,
                    format_args!(
                        "expected a list of maps of a model group to the groups it falls back \
                         to ([{{\"gpt-4o\": [\"claude\"]}}]), got {scalar}"
                    ),
                ));
            }
        };
        let mut fallbacks = Vec::new();
        for (path, map) in maps {
            for (group, to) in map {
                let group = key_text(group);
                let key = format!("{path}.{group}");
                let at = At { key: &key, ..at };
                if group == "*" && !star {
                    self.ignore(
                        format!("{}.{key}", at.entry),
                        "a \"*\" entry is only read in fallbacks",
                    );
                    continue;
                }
                if let Some(to) = self.groups(to, at)? {
                    fallbacks.push((group, to));
                }
            }
        }
        Ok(Some(fallbacks))
    }

    // -----------------------------------------------------------------------------------
    // model_list.
    // -----------------------------------------------------------------------------------

    fn model_list(
        &mut self,
        value: &Value,
        mut builder: RouterBuilder,
    ) -> Result<RouterBuilder, Error> {
        let entries = match value {
            Value::Null => return Ok(builder),
            Value::Sequence(entries) => entries,
            other => {
                return Err(Error::config(format!(
                    "{}: model_list: expected a list of models, got {}",
                    self.origin,
                    shape(other)
                )));
            }
        };
        for (index, entry) in entries.iter().enumerate() {
            if let Some(deployment) = self.model_entry(index, entry)? {
                builder = builder.deployment(deployment);
            }
        }
        Ok(builder)
    }

    /// The deployment `model_list[index]` describes.
    fn model_entry(&mut self, index: usize, entry: &Value) -> Result<Option<Deployment>, Error> {
        let path = format!("model_list[{index}]");
        let Value::Mapping(entry) = entry else {
            return Err(Error::config(format!(
                "{}: {path}: expected a map with model_name and litellm_params, got {}",
                self.origin,
                shape(entry)
            )));
        };
        let unnamed = At {
            entry: &path,
            key: "model_name",
        };
        let group = match entry.get("model_name") {
            Some(name) => self.text(name, unnamed)?,
            None => None,
        };
        let Some(group) = group.filter(|group| !group.trim().is_empty()) else {
            return Err(self.error(unnamed, "missing: every model needs a model_name"));
        };
        let label = format!("{path} ({group})");
        let at = |key: &'static str| At { entry: &label, key };
        let params = match entry.get("litellm_params") {
            Some(Value::Mapping(params)) => params,
            None | Some(Value::Null) => {
                return Err(self.error(
                    at("litellm_params"),
                    "missing: every model needs litellm_params with its model",
                ));
            }
            Some(other) => {
                let scalar = self.scalar(other, at("litellm_params"))?;
                return Err(self.error(
                    at("litellm_params"),
                    format_args!("expected a map, got {scalar}"),
                ));
            }
        };
        let provider = match params.get("custom_llm_provider") {
            Some(value) => self.text(value, at("litellm_params.custom_llm_provider"))?,
            None => None,
        };
        let model = match params.get("model") {
            Some(value) => self.text(value, at("litellm_params.model"))?,
            None => None,
        };
        let Some(model) = model.filter(|model| !model.trim().is_empty()) else {
            return Err(self.error(
                at("litellm_params.model"),
                "missing: the provider model to call (openai/gpt-4o, litellm_proxy/gpt-4o …)",
            ));
        };
        let mut deployment = Deployment::new(group, provider_model(&model, provider.as_deref()));
        for (key, value) in params {
            let name = key_text(key);
            let key = format!("litellm_params.{name}");
            let at = At {
                entry: &label,
                key: &key,
            };
            deployment = match name.as_str() {
                "model" | "custom_llm_provider" => deployment,
                "api_base" => match self.text(value, at)? {
                    Some(base) => deployment.api_base(base),
                    None => deployment,
                },
                "api_key" => match self.text(value, at)? {
                    Some(api_key) => deployment.api_key(api_key),
                    None => deployment,
                },
                "rpm" => match self.whole(value, at)? {
                    Some(rpm) => deployment.rpm(rpm),
                    None => deployment,
                },
                "tpm" => match self.whole(value, at)? {
                    Some(tpm) => deployment.tpm(tpm),
                    None => deployment,
                },
                "weight" => match self.number(value, at)? {
                    Some(weight) => deployment.weight(weight),
                    None => deployment,
                },
                "timeout" => match self.seconds(value, at)? {
                    Some(timeout) => deployment.timeout(timeout),
                    None => deployment,
                },
                "max_retries" => match self.count(value, at)? {
                    Some(retries) => deployment.max_retries(retries),
                    None => deployment,
                },
                _ => {
                    self.ignore(format!("{path}.{key}"), "not used");
                    deployment
                }
            };
        }
        for (key, value) in entry {
            let name = key_text(key);
            let at = At {
                entry: &label,
                key: &name,
            };
            match name.as_str() {
                "model_name" | "litellm_params" => {}
                "model_info" => deployment = self.model_info(&path, &label, value, deployment)?,
                // Older configs put the limits beside litellm_params.
                "rpm" | "tpm" if params.get(name.as_str()).is_some() => {
                    self.ignore(
                        format!("{path}.{name}"),
                        "litellm_params sets it too, and wins",
                    );
                }
                "rpm" => {
                    if let Some(rpm) = self.whole(value, at)? {
                        deployment = deployment.rpm(rpm);
                    }
                }
                "tpm" => {
                    if let Some(tpm) = self.whole(value, at)? {
                        deployment = deployment.tpm(tpm);
                    }
                }
                _ => self.ignore(format!("{path}.{name}"), "not used"),
            }
        }
        Ok(Some(deployment))
    }

    fn model_info(
        &mut self,
        path: &str,
        label: &str,
        value: &Value,
        mut deployment: Deployment,
    ) -> Result<Deployment, Error> {
        let info = match value {
            Value::Null => return Ok(deployment),
            Value::Mapping(info) => info,
            other => {
                let at = At {
                    entry: label,
                    key: "model_info",
                };
                let scalar = self.scalar(other, at)?;
                return Err(self.error(at, format_args!("expected a map, got {scalar}")));
            }
        };
        for (key, value) in info {
            let name = key_text(key);
            let key = format!("model_info.{name}");
            let at = At {
                entry: label,
                key: &key,
            };
            match name.as_str() {
                "id" => {
                    if let Some(id) = self.text(value, at)? {
                        deployment = deployment.id(id);
                    }
                }
                "max_input_tokens" => {
                    if let Some(tokens) = self.whole(value, at)? {
                        deployment = deployment.max_input_tokens(tokens);
                    }
                }
                "max_output_tokens" => {
                    if let Some(tokens) = self.whole(value, at)? {
                        deployment = deployment.max_output_tokens(tokens);
                    }
                }
                // LiteLLM's older name for the answer size.
                "max_tokens" if info.get("max_output_tokens").is_some() => {
                    self.ignore(
                        format!("{path}.{key}"),
                        "max_output_tokens is set too, and wins",
                    );
                }
                "max_tokens" => {
                    if let Some(tokens) = self.whole(value, at)? {
                        deployment = deployment.max_output_tokens(tokens);
                    }
                }
                _ => self.ignore(format!("{path}.{key}"), "not used"),
            }
        }
        Ok(deployment)
    }

    // -----------------------------------------------------------------------------------
    // router_settings and litellm_settings.
    // -----------------------------------------------------------------------------------

    fn router_settings(&mut self, section: &Mapping, settings: &mut Settings) -> Result<(), Error> {
        for (key, value) in section {
            let name = key_text(key);
            if ROUTER_KEYS.contains(&name.as_str()) {
                self.router_key("router_settings", &name, &name, value, settings)?;
            } else {
                self.ignore(format!("router_settings.{name}"), "not used");
            }
        }
        Ok(())
    }

    fn litellm_settings(
        &mut self,
        value: &Value,
        router_settings: Option<&Mapping>,
        settings: &mut Settings,
    ) -> Result<(), Error> {
        let section = match value {
            Value::Null => return Ok(()),
            Value::Mapping(section) => section,
            other => return Err(self.section_error("litellm_settings", other)),
        };
        for (key, value) in section {
            let name = key_text(key);
            let path = format!("litellm_settings.{name}");
            match LITELLM_KEYS.iter().find(|(key, _)| *key == name) {
                None => self.ignore(path, "not used"),
                Some((_, router_key)) => {
                    let overridden = router_settings
                        .and_then(|section| section.get(*router_key))
                        .is_some_and(|value| !value.is_null());
                    if overridden {
                        let reason = format!("router_settings.{router_key} is set too, and wins");
                        self.ignore(path, &reason);
                    } else {
                        self.router_key("litellm_settings", &name, router_key, value, settings)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Read the router setting `router_key`, written as `name` in `section`.
    fn router_key(
        &mut self,
        section: &str,
        name: &str,
        router_key: &str,
        value: &Value,
        settings: &mut Settings,
    ) -> Result<(), Error> {
        let at = At {
            entry: section,
            key: name,
        };
        match router_key {
            "routing_strategy" => {
                if let Some(name) = self.text(value, at)? {
                    match Strategy::from_litellm(name.trim()) {
                        Some(strategy) => settings.strategy = Some(strategy),
                        None => {
                            return Err(self.error(
                                at,
                                format_args!(
                                    "{name:?} is not a strategy mishika has (simple-shuffle, \
                                     least-busy, latency-based-routing, usage-based-routing, \
                                     usage-based-routing-v2)"
                                ),
                            ));
                        }
                    }
                }
            }
            "num_retries" => settings.num_retries = self.count(value, at)?,
            "allowed_fails" => settings.allowed_fails = self.whole(value, at)?,
            "cooldown_time" => settings.cooldown_time = self.seconds(value, at)?,
            "max_fallbacks" => settings.max_fallbacks = self.count(value, at)?,
            "enable_pre_call_checks" => settings.pre_call_checks = self.flag(value, at)?,
            "timeout" => settings.timeout = self.seconds(value, at)?,
            "default_fallbacks" => settings.default_fallbacks = self.groups(value, at)?,
            "fallbacks" => settings.fallbacks = self.fallbacks(value, at, true)?,
            "context_window_fallbacks" => {
                settings.context_window_fallbacks = self.fallbacks(value, at, false)?;
            }
            "content_policy_fallbacks" => {
                settings.content_policy_fallbacks = self.fallbacks(value, at, false)?;
            }
            "retry_policy" => {
                for (kind, count) in self.retry_policy(section, name, value)? {
                    settings.retry_policy.push((kind, count));
                }
            }
            "allowed_fails_policy" => {
                for (kind, count, _) in self.policy(section, name, value, "AllowedFails", &[])? {
                    // Only `retry_policy` has a default (no kind).
                    if let Some(kind) = kind {
                        settings.allowed_fails_policy.push((kind, count));
                    }
                }
            }
            "disable_cooldowns" => settings.disable_cooldowns = self.flag(value, at)?,
            "model_group_alias" => self.aliases(section, name, value, settings)?,
            "model_group_retry_policy" => {
                let groups = match value {
                    Value::Null => return Ok(()),
                    Value::Mapping(groups) => groups,
                    other => {
                        let scalar = self.scalar(other, at)?;
                        return Err(self.error(
                            at,
                            format_args!(
                                "expected a map of model groups to retry policies \
                                 ({{\"gpt-4o\": {{\"RateLimitErrorRetries\": 3}}}}), got {scalar}"
                            ),
                        ));
                    }
                };
                for (group, policy) in groups {
                    let group = key_text(group);
                    let path = format!("{name}.{group}");
                    for (kind, count) in self.retry_policy(section, &path, policy)? {
                        settings
                            .group_retry_policy
                            .push((group.clone(), kind, count));
                    }
                }
            }
            _ => self.ignore(format!("{section}.{name}"), "not used"),
        }
        Ok(())
    }

    /// A `retry_policy` map (the router's, or one group's in `model_group_retry_policy`):
    /// each known error class to its kind and count, and `DefaultRetries` to no kind.
    fn retry_policy(
        &mut self,
        section: &str,
        name: &str,
        value: &Value,
    ) -> Result<Vec<(Option<ErrorKind>, u32)>, Error> {
        let mut policy = Vec::new();
        for (kind, count, key) in
            self.policy(section, name, value, "Retries", &RETRY_ONLY_ERRORS)?
        {
            let at = At {
                entry: section,
                key: &key,
            };
            let count = u32::try_from(count)
                .map_err(|_| self.error(at, format_args!("{count} is too large")))?;
            policy.push((kind, count));
        }
        Ok(policy)
    }

    /// `model_group_alias`: each alias to the group it names, written as the group's name
    /// or as `{model: <group>, hidden: true}` (`hidden` only hides it from LiteLLM's model
    /// list, which mishika has not).
    fn aliases(
        &mut self,
        section: &str,
        name: &str,
        value: &Value,
        settings: &mut Settings,
    ) -> Result<(), Error> {
        let aliases = match value {
            Value::Null => return Ok(()),
            Value::Mapping(aliases) => aliases,
            other => {
                let at = At {
                    entry: section,
                    key: name,
                };
                let scalar = self.scalar(other, at)?;
                return Err(self.error(
                    at,
                    format_args!(
                        "expected a map of aliases to model groups (\"gpt4\": \"gpt-4o\"), got {scalar}"
                    ),
                ));
            }
        };
        for (alias, target) in aliases {
            let alias = key_text(alias);
            let key = format!("{name}.{alias}");
            let at = At {
                entry: section,
                key: &key,
            };
            let target = match target {
                Value::Mapping(item) => {
                    for (field, _) in item {
                        let field = key_text(field);
                        if field != "model" && field != "hidden" {
                            self.ignore(format!("{section}.{key}.{field}"), "not used");
                        }
                    }
                    let model_key = format!("{key}.model");
                    let at = At {
                        entry: section,
                        key: &model_key,
                    };
                    match item.get("model") {
                        Some(model) => self.text(model, at)?,
                        None => return Err(self.error(at, "missing: the model group it names")),
                    }
                }
                other => self.text(other, at)?,
            };
            match target.filter(|target| !target.trim().is_empty()) {
                Some(target) => settings.aliases.push((alias, target)),
                None => return Err(self.error(at, "expected the model group it names")),
            }
        }
        Ok(())
    }

    /// A `retry_policy` / `allowed_fails_policy` map: each known error class (of
    /// [`POLICY_ERRORS`] and `more`) with `suffix` to its kind, its count and its key;
    /// `DefaultRetries` to no kind.
    fn policy(
        &mut self,
        section: &str,
        name: &str,
        value: &Value,
        suffix: &str,
        more: &[(&str, ErrorKind)],
    ) -> Result<Vec<(Option<ErrorKind>, u64, String)>, Error> {
        let map = match value {
            Value::Null => return Ok(Vec::new()),
            Value::Mapping(map) => map,
            other => {
                let at = At {
                    entry: section,
                    key: name,
                };
                let scalar = self.scalar(other, at)?;
                let mut expected = String::new();
                for (class, _) in POLICY_ERRORS.iter().take(2) {
                    let _ = write!(expected, "{class}{suffix}: 3, ");
                }
                return Err(self.error(
                    at,
                    format_args!("expected a map ({expected}…), got {scalar}"),
                ));
            }
        };
        let mut policy = Vec::new();
        for (key, value) in map {
            let class = key_text(key);
            let key = format!("{name}.{class}");
            // `DefaultRetries` (a `retry_policy`'s count for every class it does not name)
            // is the one key without a kind.
            let kind = match class.strip_suffix(suffix) {
                Some("Default") if suffix == "Retries" => Some(None),
                Some(class) => POLICY_ERRORS
                    .iter()
                    .chain(more)
                    .find(|(name, _)| *name == class)
                    .map(|(_, kind)| Some(*kind)),
                None => None,
            };
            match kind {
                None => self.ignore(
                    format!("{section}.{key}"),
                    "not an error class mishika has a kind for",
                ),
                Some(kind) => {
                    let at = At {
                        entry: section,
                        key: &key,
                    };
                    if let Some(count) = self.whole(value, at)? {
                        policy.push((kind, count, key));
                    }
                }
            }
        }
        Ok(policy)
    }
}

/// The mishika model for LiteLLM's `model` (and `custom_llm_provider`).
fn provider_model(model: &str, provider: Option<&str>) -> String {
    let model = model.trim();
    let model = match provider.map(str::trim).filter(|p| !p.is_empty()) {
        Some(provider) if !model.starts_with(&format!("{provider}/")) => {
            format!("{provider}/{model}")
        }
        _ => model.to_owned(),
    };
    if let Some(rest) = model.strip_prefix("litellm_proxy/") {
        return format!("{}/{rest}", crate::proxy::PREFIX);
    }
    if model.contains('/') {
        return model;
    }
    if model.starts_with("claude") {
        format!("anthropic/{model}")
    } else {
        format!("openai/{model}")
    }
}

#[cfg(test)]
mod tests {
    use super::provider_model;

    #[test]
    fn litellm_models_become_mishika_models() {
        for (model, provider, want) in [
            ("litellm_proxy/gpt-4o", None, "mishikallm_proxy/gpt-4o"),
            ("openai/gpt-4o", None, "openai/gpt-4o"),
            (
                "anthropic/claude-3-5-haiku",
                None,
                "anthropic/claude-3-5-haiku",
            ),
            ("azure/my-gpt", None, "azure/my-gpt"),
            ("gpt-4o-mini", None, "openai/gpt-4o-mini"),
            ("claude-3-opus", None, "anthropic/claude-3-opus"),
            ("gpt-4o", Some("litellm_proxy"), "mishikallm_proxy/gpt-4o"),
            ("my-model", Some("azure"), "azure/my-model"),
            ("azure/my-model", Some("azure"), "azure/my-model"),
        ] {
            assert_eq!(
                provider_model(model, provider),
                want,
                "{model} {provider:?}"
            );
        }
    }
}
