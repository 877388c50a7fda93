//! The web console's settings (docs/console.md): where it listens, and the access token it asks
//! for when it listens on more than loopback.

use super::load::ConfigError;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::PathBuf;

/// The web console (mode lb): HTTP on `listen` (`none`, or `console: none`, disables it). Bound
/// to anything but loopback it needs `token_file`: a file holding the access token browsers must
/// present.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default, remote = "Self")]
pub struct Console {
    #[serde(deserialize_with = "listen_in", serialize_with = "listen_out")]
    pub listen: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
}

impl Default for Console {
    fn default() -> Self {
        Console {
            listen: Some(SocketAddr::from(([127, 0, 0, 1], 9718))),
            token_file: None,
        }
    }
}

/// `console: none` or the mapping of keys.
impl<'de> Deserialize<'de> for Console {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Console, D::Error> {
        struct Either;
        impl<'de> serde::de::Visitor<'de> for Either {
            type Value = Console;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("`none` or a mapping such as {listen: 127.0.0.1:9718}")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Console, E> {
                match v {
                    "none" => Ok(Console {
                        listen: None,
                        token_file: None,
                    }),
                    _ => Err(E::invalid_value(serde::de::Unexpected::Str(v), &self)),
                }
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Console, A::Error> {
                Console::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }
        d.deserialize_any(Either)
    }
}

impl Serialize for Console {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Console::serialize(self, s)
    }
}

impl Console {
    /// A console reachable from other hosts must not be open to whoever finds it.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(f) = &self.token_file {
            if f.as_os_str().is_empty() {
                return Err(ConfigError::new("console.token_file", "is empty"));
            }
        }
        match self.listen {
            Some(a) if !a.ip().is_loopback() && self.token_file.is_none() => Err(ConfigError::new(
                "console.listen",
                format!(
                    "{a} is not a loopback address: set console.token_file (an access token) \
                     to serve the console beyond this host"
                ),
            )),
            _ => Ok(()),
        }
    }
}

fn listen_in<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
    let s = String::deserialize(d)?;
    if s == "none" {
        return Ok(None);
    }
    s.parse().map(Some).map_err(|_| {
        serde::de::Error::custom(format!(
            "`{s}` is not `none` or an address:port such as 127.0.0.1:9718"
        ))
    })
}

fn listen_out<S: serde::Serializer>(v: &Option<SocketAddr>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(a) => s.serialize_str(&a.to_string()),
        None => s.serialize_str("none"),
    }
}

#[cfg(test)]
mod tests {
    use crate::config::load_str;

    fn with(extra: &str) -> Result<crate::config::Config, crate::config::ConfigError> {
        load_str(&format!(
            "{}\n{extra}\n",
            include_str!("../../../configs/nat.yaml")
        ))
    }

    #[test]
    fn defaults_to_loopback_and_none_disables() {
        let c = with("").unwrap();
        assert_eq!(c.console.listen, Some("127.0.0.1:9718".parse().unwrap()));
        assert_eq!(c.console.token_file, None);
        let off = with("console: {listen: none}").unwrap();
        assert_eq!(off.console.listen, None);
        assert_eq!(with("console: none").unwrap().console, off.console);
        let e = with("console: off").unwrap_err();
        assert_eq!(e.key, "console", "{e}");
        assert_eq!(
            e.reason,
            "invalid value: string \"off\", expected `none` or a mapping such as {listen: 127.0.0.1:9718}"
        );
        // The normalised config round-trips (dataplane check prints it).
        let text = serde_yaml_ng::to_string(&off).unwrap();
        assert_eq!(load_str(&text).unwrap(), off);
        let v6 = with("console: {listen: \"[::1]:9000\"}").unwrap();
        assert_eq!(v6.console.listen, Some("[::1]:9000".parse().unwrap()));
    }

    #[test]
    fn malformed_or_open_listen_is_refused_with_its_key() {
        let e = with("console: {listen: loopback}").unwrap_err();
        assert_eq!(e.key, "console.listen", "{e}");
        assert_eq!(
            e.reason,
            "`loopback` is not `none` or an address:port such as 127.0.0.1:9718"
        );
        let e = with("console: {port: 1}").unwrap_err();
        assert_eq!(e.key, "console.port", "{e}");
        let e = with("console: {listen: 0.0.0.0:9718}").unwrap_err();
        assert_eq!(e.key, "console.listen", "{e}");
        assert_eq!(
            e.reason,
            "0.0.0.0:9718 is not a loopback address: set console.token_file (an access token) \
             to serve the console beyond this host"
        );
        let e = with("console: {listen: 0.0.0.0:9718, token_file: \"\"}").unwrap_err();
        assert_eq!(e.key, "console.token_file", "{e}");
        let ok = with("console: {listen: 0.0.0.0:9718, token_file: /etc/dataplane/console.token}")
            .unwrap();
        assert_eq!(
            ok.console.token_file.as_deref(),
            Some(std::path::Path::new("/etc/dataplane/console.token"))
        );
        let text = serde_yaml_ng::to_string(&ok).unwrap();
        assert_eq!(load_str(&text).unwrap(), ok);
    }
}
