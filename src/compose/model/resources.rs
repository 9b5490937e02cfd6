//! Top-level networks, volumes, secrets, configs and models.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::parts::model;
use super::{input, Extensions};

model! {
    pub struct Network {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub driver: Option<String>,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        #[schemars(schema_with = "input::string_dict")]
        pub driver_opts: BTreeMap<String, Option<String>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub ipam: Option<Ipam>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(schema_with = "input::external")]
        pub external: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub internal: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub enable_ipv4: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub enable_ipv6: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub attachable: Option<bool>,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        #[schemars(schema_with = "input::list_or_dict")]
        pub labels: BTreeMap<String, String>,
        #[serde(flatten)]
        #[schemars(skip)]
        pub extensions: Extensions,
    }
}

model! {
    pub struct Ipam {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub driver: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub config: Vec<IpamPool>,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        pub options: BTreeMap<String, String>,
        #[serde(flatten)]
        #[schemars(skip)]
        pub extensions: Extensions,
    }
}

model! {
    pub struct IpamPool {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub subnet: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub ip_range: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub gateway: Option<String>,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        pub aux_addresses: BTreeMap<String, String>,
        #[serde(flatten)]
        #[schemars(skip)]
        pub extensions: Extensions,
    }
}

model! {
    pub struct Volume {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub driver: Option<String>,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        #[schemars(schema_with = "input::string_dict")]
        pub driver_opts: BTreeMap<String, Option<String>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(schema_with = "input::external")]
        pub external: Option<bool>,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        #[schemars(schema_with = "input::list_or_dict")]
        pub labels: BTreeMap<String, String>,
        #[serde(flatten)]
        #[schemars(skip)]
        pub extensions: Extensions,
    }
}

model! {
    pub struct Secret {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub environment: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub file: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(schema_with = "input::external")]
        pub external: Option<bool>,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        #[schemars(schema_with = "input::list_or_dict")]
        pub labels: BTreeMap<String, String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub driver: Option<String>,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        #[schemars(schema_with = "input::string_dict")]
        pub driver_opts: BTreeMap<String, Option<String>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub template_driver: Option<String>,
        #[serde(flatten)]
        #[schemars(skip)]
        pub extensions: Extensions,
    }
}

model! {
    pub struct Config {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub content: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub environment: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub file: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(schema_with = "input::external")]
        pub external: Option<bool>,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        #[schemars(schema_with = "input::list_or_dict")]
        pub labels: BTreeMap<String, String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub template_driver: Option<String>,
        #[serde(flatten)]
        #[schemars(skip)]
        pub extensions: Extensions,
    }
}

model! {
    /// A language model the application uses (models are provider-run).
    pub struct Model {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub model: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub context_size: Option<i64>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub runtime_flags: Vec<String>,
        #[serde(flatten)]
        #[schemars(skip)]
        pub extensions: Extensions,
    }
}
