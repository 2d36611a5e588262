//! Pieces shared by the wire types of several endpoints: lenient enums, `null` as absent,
//! builder setters, and the text input of completions and embeddings.

use serde::{Deserialize, Deserializer, Serialize};

/// Deserialize `null` as the type's default (e.g. an empty `Vec`).
pub(crate) fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// Define a string enum whose unknown values land in `Other(String)`, so a server that
/// invents a new value never breaks decoding. `""` decodes as `None` where the field is
/// an `Option` and uses [`empty_as_none`].
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => $text:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )*
            /// A value this version of mishika does not name.
            Other(String),
        }

        impl $name {
            /// The wire spelling.
            pub fn as_str(&self) -> &str {
                match self {
                    $( $name::$variant => $text, )*
                    $name::Other(text) => text,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl From<&str> for $name {
            fn from(text: &str) -> $name {
                match text {
                    $( $text => $name::$variant, )*
                    other => $name::Other(other.to_owned()),
                }
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<$name, D::Error> {
                $crate::wire::from_str_visitor(deserializer)
            }
        }
    };
}
pub(crate) use string_enum;

/// Deserialize an optional lenient enum, treating `null` and `""` as absent.
pub(crate) fn empty_as_none<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: for<'a> From<&'a str>,
{
    struct OptionVisitor<T>(std::marker::PhantomData<T>);
    impl<'de, T: for<'a> From<&'a str>> serde::de::Visitor<'de> for OptionVisitor<T> {
        type Value = Option<T>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a string or null")
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Option<T>, E> {
            Ok(None)
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Option<T>, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<T>, D::Error> {
            deserializer.deserialize_str(self)
        }
        fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Option<T>, E> {
            Ok((!text.is_empty()).then(|| T::from(text)))
        }
    }
    deserializer.deserialize_option(OptionVisitor(std::marker::PhantomData))
}

/// Deserialize a string into `T` through `From<&str>` without allocating for borrowed input.
pub(crate) fn from_str_visitor<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: for<'a> From<&'a str>,
{
    struct StrVisitor<T>(std::marker::PhantomData<T>);
    impl<T: for<'a> From<&'a str>> serde::de::Visitor<'_> for StrVisitor<T> {
        type Value = T;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a string")
        }
        fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<T, E> {
            Ok(T::from(text))
        }
    }
    deserializer.deserialize_str(StrVisitor(std::marker::PhantomData))
}

/// A count, index or timestamp as gateways really send it: an integer, a float (truncated),
/// or a numeric string; `null`, negative or non-finite values are absent.
pub(crate) fn lenient_u64<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<u64>, D::Error> {
    struct Visitor;
    impl<'de> serde::de::Visitor<'de> for Visitor {
        type Value = Option<u64>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a non-negative number")
        }
        fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<Option<u64>, E> {
            Ok(Some(value))
        }
        fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<Option<u64>, E> {
            Ok(u64::try_from(value).ok())
        }
        fn visit_f64<E: serde::de::Error>(self, value: f64) -> Result<Option<u64>, E> {
            // `as` saturates; the range check keeps 1e300 from becoming u64::MAX.
            Ok((value.is_finite() && (0.0..1.8e19).contains(&value)).then_some(value as u64))
        }
        fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<Option<u64>, E> {
            Ok(value
                .trim()
                .parse::<f64>()
                .ok()
                .and_then(|v| self.visit_f64::<E>(v).ok().flatten()))
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Option<u64>, E> {
            Ok(None)
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Option<u64>, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(
            self,
            deserializer: D,
        ) -> Result<Option<u64>, D::Error> {
            deserializer.deserialize_any(self)
        }
    }
    deserializer.deserialize_any(Visitor)
}

/// A position (`index`): a whole number from 0 to `u32::MAX`, sent as an integer, a whole
/// float (`1.0`) or a numeric string (`"1"`); absent or `null` is 0. Anything else
/// (negative, fractional, past `u32`, not a number) is an error naming the value, never a
/// silent 0: a wrong index would fold one choice or tool call into another.
pub(crate) fn lenient_u32<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
    struct Visitor;
    fn out_of_range<E: serde::de::Error>(value: impl std::fmt::Display) -> E {
        E::custom(format!(
            "index {value} is out of range (a whole number from 0 to {})",
            u32::MAX
        ))
    }
    impl<'de> serde::de::Visitor<'de> for Visitor {
        type Value = u32;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "an index from 0 to {}", u32::MAX)
        }
        fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<u32, E> {
            u32::try_from(value).map_err(|_| out_of_range(value))
        }
        fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<u32, E> {
            u32::try_from(value).map_err(|_| out_of_range(value))
        }
        fn visit_f64<E: serde::de::Error>(self, value: f64) -> Result<u32, E> {
            let whole = value.is_finite() && value.fract() == 0.0;
            if whole && (0.0..=f64::from(u32::MAX)).contains(&value) {
                // Whole and in range: the cast is exact.
                Ok(value as u32)
            } else {
                Err(out_of_range(value))
            }
        }
        fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<u32, E> {
            let text = value.trim();
            if let Ok(number) = text.parse::<u64>() {
                return self.visit_u64(number);
            }
            match text.parse::<f64>() {
                Ok(number) if !text.is_empty() => self.visit_f64(number),
                _ => Err(out_of_range(format_args!("{value:?}"))),
            }
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<u32, E> {
            Ok(0)
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<u32, E> {
            Ok(0)
        }
        fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<u32, D::Error> {
            deserializer.deserialize_any(self)
        }
    }
    deserializer.deserialize_any(Visitor)
}

/// Builder setters for `Option` fields: `name(value)` sets `Some(value.into())`.
macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident: $ty:ty),* $(,)?) => {
        $(
            $(#[$doc])*
            #[must_use]
            pub fn $name(mut self, value: $ty) -> Self {
                self.$name = Some(value.into());
                self
            }
        )*
    };
}
pub(crate) use setters;

/// Text input of the completion and embedding endpoints: a string, several strings, token
/// ids, or several lists of token ids.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TextInput {
    /// One text.
    Text(String),
    /// Several texts (one result each, in order).
    Texts(Vec<String>),
    /// One input as token ids.
    Tokens(Vec<u32>),
    /// Several inputs as token ids.
    TokenLists(Vec<Vec<u32>>),
}

impl From<&str> for TextInput {
    fn from(text: &str) -> TextInput {
        TextInput::Text(text.to_owned())
    }
}

impl From<String> for TextInput {
    fn from(text: String) -> TextInput {
        TextInput::Text(text)
    }
}

impl From<Vec<String>> for TextInput {
    fn from(texts: Vec<String>) -> TextInput {
        TextInput::Texts(texts)
    }
}

impl From<Vec<&str>> for TextInput {
    fn from(texts: Vec<&str>) -> TextInput {
        TextInput::Texts(texts.into_iter().map(str::to_owned).collect())
    }
}

impl From<Vec<u32>> for TextInput {
    fn from(tokens: Vec<u32>) -> TextInput {
        TextInput::Tokens(tokens)
    }
}

impl From<Vec<Vec<u32>>> for TextInput {
    fn from(lists: Vec<Vec<u32>>) -> TextInput {
        TextInput::TokenLists(lists)
    }
}

/// An object key, borrowed from the input when it has no escapes (the usual case), so
/// matching a field name allocates nothing.
pub(crate) enum Key<'de> {
    Borrowed(&'de str),
    Owned(String),
}

impl Key<'_> {
    pub(crate) fn as_str(&self) -> &str {
        match self {
            Key::Borrowed(text) => text,
            Key::Owned(text) => text,
        }
    }

    pub(crate) fn into_owned(self) -> String {
        match self {
            Key::Borrowed(text) => text.to_owned(),
            Key::Owned(text) => text,
        }
    }
}

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Key<'de>, D::Error> {
        struct KeyVisitor;
        impl<'de> serde::de::Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a field name")
            }
            fn visit_borrowed_str<E: serde::de::Error>(
                self,
                text: &'de str,
            ) -> Result<Key<'de>, E> {
                Ok(Key::Borrowed(text))
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Key<'de>, E> {
                Ok(Key::Owned(text.to_owned()))
            }
            fn visit_string<E: serde::de::Error>(self, text: String) -> Result<Key<'de>, E> {
                Ok(Key::Owned(text))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// `null` as the default value, as a type for [`deserialize_lenient!`] fields.
pub(crate) struct NullAsDefault<T>(pub(crate) T);

impl<'de, T: Deserialize<'de> + Default> Deserialize<'de> for NullAsDefault<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        null_as_default(deserializer).map(NullAsDefault)
    }
}

/// [`empty_as_none`] as a type for [`deserialize_lenient!`] fields.
pub(crate) struct EmptyAsNone<T>(pub(crate) Option<T>);

impl<'de, T: for<'a> From<&'a str>> Deserialize<'de> for EmptyAsNone<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        empty_as_none(deserializer).map(EmptyAsNone)
    }
}

/// [`lenient_u64`] as a type for [`deserialize_lenient!`] fields.
pub(crate) struct LenientU64(pub(crate) Option<u64>);

impl<'de> Deserialize<'de> for LenientU64 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        lenient_u64(deserializer).map(LenientU64)
    }
}

/// [`lenient_u32`] as a type for [`deserialize_lenient!`] fields.
pub(crate) struct LenientU32(pub(crate) u32);

impl<'de> Deserialize<'de> for LenientU32 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        lenient_u32(deserializer).map(LenientU32)
    }
}

/// `Deserialize` for a response struct that keeps unknown fields in `extra` without serde's
/// `flatten` (which buffers every object and costs ~20 % on each streamed chunk). Fields
/// match their JSON names; a field listed as `name: Wrapper` is read through that lenient
/// wrapper (`NullAsDefault<_>`, `EmptyAsNone<_>`, `LenientU64`, `LenientU32`). The struct
/// must implement `Default` and have `extra: Map<String, Value>`. Keys listed in
/// `skip [..]` are read and dropped.
macro_rules! deserialize_lenient {
    ($type:ident { $($field:ident $(: $wrapper:ty)?),* $(,)? } $(skip [$($skip:literal),*])?) => {
        impl<'de> serde::Deserialize<'de> for $type {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct FieldsVisitor;
                impl<'de> serde::de::Visitor<'de> for FieldsVisitor {
                    type Value = $type;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str(concat!("a ", stringify!($type), " object"))
                    }
                    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<$type, A::Error> {
                        let mut out = <$type>::default();
                        while let Some(key) = map.next_key::<$crate::wire::Key<'de>>()? {
                            match key.as_str() {
                                $(stringify!($field) => {
                                    $crate::wire::deserialize_lenient!(@store out, $field, map $(, $wrapper)?);
                                })*
                                $($($skip)|* => {
                                    map.next_value::<serde::de::IgnoredAny>()?;
                                })?
                                _ => {
                                    let value: serde_json::Value = map.next_value()?;
                                    out.extra.insert(key.into_owned(), value);
                                }
                            }
                        }
                        Ok(out)
                    }
                }
                deserializer.deserialize_map(FieldsVisitor)
            }
        }
    };
    (@store $out:ident, $field:ident, $map:ident) => { $out.$field = $map.next_value()?; };
    (@store $out:ident, $field:ident, $map:ident, $wrapper:ty) => {
        $out.$field = $map.next_value::<$wrapper>()?.0;
    };
}
pub(crate) use deserialize_lenient;
