//! The parts a service is made of (ports, volumes, build, healthcheck, …).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{input, Extensions};

macro_rules! model {
    ($(#[$m:meta])* pub struct $name:ident { $($body:tt)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
        #[schemars(deny_unknown_fields)]
        pub struct $name { $($body)* }
    };
}
pub(crate) use model;

model! {
    /// `build:`: how to build the service's image.
    pub struct Build {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub context: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub dockerfile: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub dockerfile_inline: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub entitlements: Vec<String>,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        #[schemars(schema_with = "input::list_or_dict")]
        pub args: BTreeMap<String, Option<String>>,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        #[schemars(schema_with = "input::list_or_dict")]
        pub ssh: BTreeMap<String, Option<String>>,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        #[schemars(schema_with = "input::list_or_dict")]
        pub labels: BTreeMap<String, String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub cache_from: Vec<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub cache_to: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub no_cache: Option<bool>,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        #[schemars(schema_with = "input::list_or_dict")]
        pub additional_contexts: BTreeMap<String, String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub network: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(schema_with = "input::string_or_bool")]
        pub provenance: Option<serde_json::Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(schema_with = "input::string_or_bool")]
        pub sbom: Option<serde_json::Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub pull: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub target: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(schema_with = "input::bytes")]
        pub shm_size: Option<i64>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        #[schemars(schema_with = "input::extra_hosts")]
        pub extra_hosts: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub isolation: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub privileged: Option<bool>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        #[schemars(schema_with = "input::file_refs")]
        pub secrets: Vec<FileRef>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub tags: Vec<String>,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        #[schemars(schema_with = "input::ulimits")]
        pub ulimits: BTreeMap<String, Ulimit>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub platforms: Vec<String>,
        #[serde(flatten)]
        #[schemars(skip)]
        pub extensions: Extensions,
    }
}

model! {
    /// A published port, in the order Docker Compose prints its fields.
    pub struct Port {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub mode: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub host_ip: Option<String>,
        /// Always set after normalization (a port without one is an error there).
        #[serde(default)]
        pub target: u16,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(schema_with = "input::string_or_integer")]
        pub published: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub protocol: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub app_protocol: Option<String>,
        #[serde(flatten)]
        #[schemars(skip)]
        pub extensions: Extensions,
    }
}

model! {
    /// A mount: bind, named volume, tmpfs, image, npipe or cluster.
    pub struct ServiceVolume {
        #[serde(rename = "type")]
        pub kind: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub source: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub target: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub read_only: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub consistency: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub bind: Option<BindOptions>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub volume: Option<VolumeOptions>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub tmpfs: Option<TmpfsOptions>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub image: Option<ImageOptions>,
        #[serde(flatten)]
        #[schemars(skip)]
        pub extensions: Extensions,
    }
}

model! {
    pub struct BindOptions {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub propagation: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub create_host_path: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub recursive: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub selinux: Option<String>,
        #[serde(flatten)]
        #[schemars(skip)]
        pub extensions: Extensions,
    }
}

model! {
    pub struct VolumeOptions {
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        #[schemars(schema_with = "input::list_or_dict")]
        pub labels: BTreeMap<String, String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub nocopy: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub subpath: Option<String>,
        #[serde(flatten)]
        #[schemars(skip)]
        pub extensions: Extensions,
    }
}

model! {
    pub struct TmpfsOptions {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(schema_with = "input::bytes")]
        pub size: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub mode: Option<u32>,
        #[serde(flatten)]
        #[schemars(skip)]
        pub extensions: Extensions,
    }
}

model! {
    pub struct ImageOptions {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub subpath: Option<String>,
        #[serde(flatten)]
        #[schemars(skip)]
        pub extensions: Extensions,
    }
}

model! {
    /// One `depends_on` entry.
    pub struct DependsOn {
        #[schemars(schema_with = "input::condition")]
        pub condition: String,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        pub restart: bool,
        #[serde(default = "yes")]
        pub required: bool,
        #[serde(flatten)]
        #[schemars(skip)]
        pub extensions: Extensions,
    }
}

fn yes() -> bool {
    true
}

model! {
    /// How a service attaches to one network.
    pub struct ServiceNetwork {
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub aliases: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub interface_name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub ipv4_address: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub ipv6_address: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub link_local_ips: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub mac_address: Option<String>,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        pub driver_opts: BTreeMap<String, String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub priority: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub gw_priority: Option<i64>,
        #[serde(flatten)]
        #[schemars(skip)]
        pub extensions: Extensions,
    }
}

model! {
    pub struct ServiceModel {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub endpoint_var: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub model_var: Option<String>,
        #[serde(flatten)]
        #[schemars(skip)]
        pub extensions: Extensions,
    }
}

model! {
    /// A secret or config granted to a service.
    pub struct FileRef {
        pub source: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub target: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub uid: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub gid: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub mode: Option<u32>,
        #[serde(flatten)]
        #[schemars(skip)]
        pub extensions: Extensions,
    }
}

model! {
    pub struct Healthcheck {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(schema_with = "input::command")]
        pub test: Option<Vec<String>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub timeout: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub interval: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub retries: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub start_period: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub start_interval: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub disable: Option<bool>,
        #[serde(flatten)]
        #[schemars(skip)]
        pub extensions: Extensions,
    }
}

model! {
    pub struct Ulimit {
        pub soft: i64,
        pub hard: i64,
        #[serde(flatten)]
        #[schemars(skip)]
        pub extensions: Extensions,
    }
}

model! {
    pub struct Device {
        pub source: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub target: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub permissions: Option<String>,
        #[serde(flatten)]
        #[schemars(skip)]
        pub extensions: Extensions,
    }
}

model! {
    pub struct EnvFile {
        pub path: String,
        #[serde(default = "yes")]
        pub required: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub format: Option<String>,
    }
}

model! {
    pub struct Extends {
        pub service: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub file: Option<String>,
    }
}

model! {
    pub struct Logging {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub driver: Option<String>,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        #[schemars(schema_with = "input::string_dict")]
        pub options: BTreeMap<String, Option<String>>,
        #[serde(flatten)]
        #[schemars(skip)]
        pub extensions: Extensions,
    }
}

model! {
    /// `post_start` / `pre_stop` lifecycle hooks.
    pub struct Hook {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(schema_with = "input::command")]
        pub command: Option<Vec<String>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub user: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub privileged: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub working_dir: Option<String>,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        #[schemars(schema_with = "input::list_or_dict")]
        pub environment: BTreeMap<String, Option<String>>,
        #[serde(flatten)]
        #[schemars(skip)]
        pub extensions: Extensions,
    }
}

model! {
    pub struct Provider {
        #[serde(rename = "type")]
        pub kind: String,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        pub options: BTreeMap<String, serde_json::Value>,
        #[serde(flatten)]
        #[schemars(skip)]
        pub extensions: Extensions,
    }
}

model! {
    pub struct CredentialSpec {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub config: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub file: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub registry: Option<String>,
        #[serde(flatten)]
        #[schemars(skip)]
        pub extensions: Extensions,
    }
}

model! {
    pub struct BlkioConfig {
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub device_read_bps: Vec<BlkioLimit>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub device_read_iops: Vec<BlkioLimit>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub device_write_bps: Vec<BlkioLimit>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub device_write_iops: Vec<BlkioLimit>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub weight: Option<u16>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub weight_device: Vec<BlkioWeight>,
    }
}

model! {
    pub struct BlkioLimit {
        pub path: String,
        #[schemars(schema_with = "input::bytes")]
        pub rate: i64,
    }
}

model! {
    pub struct BlkioWeight {
        pub path: String,
        pub weight: u16,
    }
}

/// `gpus: all` or a list of device requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Gpus {
    All(String),
    Devices(Vec<super::DeviceRequest>),
}

model! {
    pub struct Develop {
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub watch: Vec<Watch>,
        #[serde(flatten)]
        #[schemars(skip)]
        pub extensions: Extensions,
    }
}

model! {
    /// One `develop.watch` rule (sync, rebuild, restart, sync+restart, sync+exec).
    pub struct Watch {
        pub path: String,
        pub action: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub target: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        #[schemars(schema_with = "input::string_or_list")]
        pub ignore: Vec<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        #[schemars(schema_with = "input::string_or_list")]
        pub include: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub exec: Option<Hook>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub initial_sync: Option<bool>,
        #[serde(flatten)]
        #[schemars(skip)]
        pub extensions: Extensions,
    }
}
