//! Schemas of the *input* forms: fields a Compose file may write in a short
//! syntax (strings, lists, numbers) that the loader rewrites to the long
//! form these types hold. Each mirrors what the official schema accepts.

use schemars::{json_schema, Schema, SchemaGenerator};

use super::{
    Build, Config, DependsOn, Device, FileRef, Model, Network, Port, Secret, Service, ServiceModel, ServiceNetwork,
    ServiceVolume, Ulimit, Volume,
};

const NAME: &str = "^[a-zA-Z0-9._-]+$";

fn named<T: schemars::JsonSchema>(g: &mut SchemaGenerator, nullable: bool) -> Schema {
    let entry = g.subschema_for::<T>();
    let entry = if nullable {
        json_schema!({"anyOf": [entry, {"type": "null"}]})
    } else {
        entry
    };
    json_schema!({"type": "object", "patternProperties": {NAME: entry}, "additionalProperties": false})
}

/// A list of names, or a map from name to settings (or nothing).
fn names_or_map<T: schemars::JsonSchema>(g: &mut SchemaGenerator) -> Schema {
    let long = g.subschema_for::<T>();
    json_schema!({"anyOf": [
        {"type": "array", "items": {"type": "string"}, "uniqueItems": true},
        {"type": "object", "patternProperties": {NAME: {"anyOf": [long, {"type": "null"}]}}, "additionalProperties": false}
    ]})
}

pub fn services(g: &mut SchemaGenerator) -> Schema {
    named::<Service>(g, false)
}
pub fn networks(g: &mut SchemaGenerator) -> Schema {
    let mut s = named::<Network>(g, true);
    s.remove("additionalProperties");
    s
}
pub fn volumes(g: &mut SchemaGenerator) -> Schema {
    named::<Volume>(g, true)
}
pub fn secrets(g: &mut SchemaGenerator) -> Schema {
    named::<Secret>(g, true)
}
pub fn configs(g: &mut SchemaGenerator) -> Schema {
    named::<Config>(g, true)
}
pub fn models(g: &mut SchemaGenerator) -> Schema {
    named::<Model>(g, true)
}

pub fn include(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "array", "items": {"anyOf": [
        {"type": "string"},
        {"type": "object", "properties": {
            "path": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
            "env_file": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
            "project_directory": {"type": "string"}
        }, "additionalProperties": false, "patternProperties": {"^x-": {}}}
    ]}})
}

pub fn list_or_dict(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"anyOf": [
        {"type": "object", "patternProperties": {".+": {"type": ["string", "number", "boolean", "null"]}}, "additionalProperties": false},
        {"type": "array", "items": {"type": "string"}, "uniqueItems": true}
    ]})
}

pub fn string_dict(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "object", "patternProperties": {"^.+$": {"type": ["string", "number", "boolean", "null"]}}})
}

pub fn string_or_list(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]})
}

pub fn string_or_number_list(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"anyOf": [{"type": ["string", "number"]}, {"type": "array", "items": {"type": ["string", "number"]}}]})
}

pub fn expose(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "array", "items": {"type": ["string", "number"]}})
}

pub fn command(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"anyOf": [{"type": "null"}, {"type": "string"}, {"type": "array", "items": {"type": "string"}}]})
}

pub fn bytes(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": ["number", "string"]})
}

pub fn string_or_bool(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": ["string", "boolean"]})
}

pub fn string_or_integer(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": ["string", "integer"]})
}

pub fn external(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"anyOf": [
        {"type": ["boolean", "string"]},
        {"type": "object", "properties": {"name": {"type": "string"}}, "patternProperties": {"^x-": {}}, "additionalProperties": false},
        {"type": "null"}
    ]})
}

pub fn build(g: &mut SchemaGenerator) -> Schema {
    let long = g.subschema_for::<Build>();
    json_schema!({"anyOf": [{"type": "string"}, long]})
}

pub fn extends(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"anyOf": [
        {"type": "string"},
        {"type": "object", "properties": {"service": {"type": "string"}, "file": {"type": "string"}}, "required": ["service"], "additionalProperties": false}
    ]})
}

pub fn extra_hosts(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"anyOf": [
        {"type": "object", "patternProperties": {".+": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}}, "additionalProperties": false},
        {"type": "array", "items": {"type": "string"}}
    ]})
}

pub fn env_file(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"anyOf": [
        {"type": "string"},
        {"type": "array", "items": {"anyOf": [
            {"type": "string"},
            {"type": "object", "properties": {
                "path": {"type": "string"},
                "format": {"type": "string"},
                "required": {"type": ["boolean", "string"], "default": true}
            }, "required": ["path"], "additionalProperties": false}
        ]}}
    ]})
}

pub fn file_refs(g: &mut SchemaGenerator) -> Schema {
    let long = g.subschema_for::<FileRef>();
    json_schema!({"type": "array", "items": {"anyOf": [{"type": "string"}, long]}})
}

pub fn depends_on(g: &mut SchemaGenerator) -> Schema {
    names_or_map::<DependsOn>(g)
}

pub fn devices(g: &mut SchemaGenerator) -> Schema {
    let long = g.subschema_for::<Device>();
    json_schema!({"type": "array", "items": {"anyOf": [{"type": "string"}, long]}})
}

pub fn ports(g: &mut SchemaGenerator) -> Schema {
    let long = g.subschema_for::<Port>();
    json_schema!({"type": "array", "items": {"anyOf": [{"type": "number"}, {"type": "string"}, long]}})
}

pub fn service_volumes(g: &mut SchemaGenerator) -> Schema {
    let long = g.subschema_for::<ServiceVolume>();
    json_schema!({"type": "array", "items": {"anyOf": [{"type": "string"}, long]}})
}

pub fn service_networks(g: &mut SchemaGenerator) -> Schema {
    names_or_map::<ServiceNetwork>(g)
}

pub fn service_models(g: &mut SchemaGenerator) -> Schema {
    names_or_map::<ServiceModel>(g)
}

pub fn ulimits(g: &mut SchemaGenerator) -> Schema {
    let long = g.subschema_for::<Ulimit>();
    json_schema!({"type": "object", "patternProperties": {"^[a-z]+$": {"anyOf": [{"type": ["integer", "string"]}, long]}}})
}

pub fn condition(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "string", "enum": ["service_started", "service_healthy", "service_completed_successfully"]})
}
