//! `deploy:` (deploy.md): replicas, resources, restart and update policies.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::parts::model;
use super::{input, Extensions};

model! {
    pub struct Deploy {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub mode: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub endpoint_mode: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub replicas: Option<i64>,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        #[schemars(schema_with = "input::list_or_dict")]
        pub labels: BTreeMap<String, String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub rollback_config: Option<UpdateConfig>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub update_config: Option<UpdateConfig>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub resources: Option<Resources>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub restart_policy: Option<RestartPolicy>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub placement: Option<Placement>,
        #[serde(flatten)]
        #[schemars(skip)]
        pub extensions: Extensions,
    }
}

model! {
    pub struct UpdateConfig {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub parallelism: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub delay: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub failure_action: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub monitor: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub max_failure_ratio: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub order: Option<String>,
        #[serde(flatten)]
        #[schemars(skip)]
        pub extensions: Extensions,
    }
}

model! {
    pub struct Resources {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub limits: Option<ResourceLimits>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub reservations: Option<ResourceReservations>,
        #[serde(flatten)]
        #[schemars(skip)]
        pub extensions: Extensions,
    }
}

model! {
    pub struct ResourceLimits {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub cpus: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(schema_with = "input::bytes")]
        pub memory: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub pids: Option<i64>,
        #[serde(flatten)]
        #[schemars(skip)]
        pub extensions: Extensions,
    }
}

model! {
    pub struct ResourceReservations {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub cpus: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(schema_with = "input::bytes")]
        pub memory: Option<i64>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub generic_resources: Vec<GenericResource>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub devices: Vec<DeviceRequest>,
        #[serde(flatten)]
        #[schemars(skip)]
        pub extensions: Extensions,
    }
}

model! {
    /// A device (GPU, …) request, for `deploy` reservations and `gpus`.
    pub struct DeviceRequest {
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub capabilities: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(schema_with = "input::string_or_integer")]
        pub count: Option<serde_json::Value>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub device_ids: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub driver: Option<String>,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        #[schemars(schema_with = "input::list_or_dict")]
        pub options: BTreeMap<String, Option<String>>,
        #[serde(flatten)]
        #[schemars(skip)]
        pub extensions: Extensions,
    }
}

model! {
    pub struct GenericResource {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub discrete_resource_spec: Option<DiscreteResource>,
        #[serde(flatten)]
        #[schemars(skip)]
        pub extensions: Extensions,
    }
}

model! {
    pub struct DiscreteResource {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub kind: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub value: Option<f64>,
        #[serde(flatten)]
        #[schemars(skip)]
        pub extensions: Extensions,
    }
}

model! {
    pub struct RestartPolicy {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub condition: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub delay: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub max_attempts: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub window: Option<String>,
        #[serde(flatten)]
        #[schemars(skip)]
        pub extensions: Extensions,
    }
}

model! {
    pub struct Placement {
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub constraints: Vec<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub preferences: Vec<PlacementPreference>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub max_replicas_per_node: Option<u64>,
        #[serde(flatten)]
        #[schemars(skip)]
        pub extensions: Extensions,
    }
}

model! {
    pub struct PlacementPreference {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub spread: Option<String>,
        #[serde(flatten)]
        #[schemars(skip)]
        pub extensions: Extensions,
    }
}
