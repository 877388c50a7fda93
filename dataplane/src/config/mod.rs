//! The YAML configuration: schema (serde), loading with error messages that name the key path and
//! line, and semantic validation. The running config is never touched by a config that fails here.
mod lcores;
mod load;
mod schema;
mod units;
mod validate;
mod validate_lb;

pub use lcores::parse_lcores;
pub use load::{load_file, load_str, ConfigError};
pub use schema::*;
pub use units::{Dur, Ipv4Net, Mac};
