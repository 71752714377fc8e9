//! The JSON Schemas of the `--format json` outputs, generated from the view types.
//!
//! `schema/<name>.schema.json` are these, written by the integration test `schemas`
//! (`STRATA_UPDATE_SCHEMAS=1` rewrites them; otherwise it fails when they differ).

use super::audit::AuditReport;
use super::df::DfJson;
use super::listing::{ContainerView, ImageView, LayerView};
use super::volumes::VolumesJson;
use schemars::generate::SchemaSettings;
use schemars::transform::{transform_subschemas, Transform};
use schemars::{JsonSchema, Schema};

/// Every object with listed properties accepts no others, as the hand-written schemas did.
#[derive(Clone)]
struct NoExtraProperties;

impl Transform for NoExtraProperties {
    fn transform(&mut self, schema: &mut Schema) {
        transform_subschemas(self, schema);
        if let Some(obj) = schema.as_object_mut() {
            if obj.contains_key("properties") && !obj.contains_key("additionalProperties") {
                obj.insert("additionalProperties".into(), false.into());
            }
        }
    }
}

/// The schema of `T` as serialized, titled and described, with its `$id`.
fn root<T: ?Sized + JsonSchema>(name: &str, title: &str, description: &str) -> serde_json::Value {
    let generator = SchemaSettings::draft2020_12()
        .for_serialize()
        .with_transform(NoExtraProperties)
        .into_generator();
    let schema = generator.into_root_schema_for::<T>();
    let mut out = serde_json::Map::new();
    out.insert("$schema".into(), "https://json-schema.org/draft/2020-12/schema".into());
    out.insert("$id".into(), format!("https://strata.invalid/schema/{name}.schema.json").into());
    out.insert("title".into(), title.into());
    out.insert("description".into(), description.into());
    for (k, v) in schema.to_value().as_object().into_iter().flatten() {
        if !matches!(k.as_str(), "$schema" | "$id" | "title" | "description") {
            out.insert(k.clone(), v.clone());
        }
    }
    serde_json::Value::Object(out)
}

/// Every output schema, by file stem (`images` for `schema/images.schema.json`).
pub fn all() -> Vec<(&'static str, serde_json::Value)> {
    vec![
        (
            "images",
            root::<Vec<ImageView>>(
                "images",
                "strata images",
                "Output of `strata images --format json`: one object per image, newest first.",
            ),
        ),
        (
            "layers",
            root::<Vec<LayerView>>(
                "layers",
                "strata layers",
                "Output of `strata layers --format json`: one object per layerdb layer, by chain ID.",
            ),
        ),
        (
            "containers",
            root::<Vec<ContainerView>>(
                "containers",
                "strata containers",
                "Output of `strata containers --format json`: one object per container, newest first.",
            ),
        ),
        (
            "legacy-images",
            root::<Vec<crate::store::legacy::LegacyImage>>(
                "legacy-images",
                "strata images (pre-1.10 data-root)",
                "Output of `strata images --format json` on a pre-1.10 data-root (graph/): one object per v1 image, newest first.",
            ),
        ),
        (
            "legacy-containers",
            root::<Vec<crate::store::legacy::LegacyContainer>>(
                "legacy-containers",
                "strata containers (pre-1.10 data-root)",
                "Output of `strata containers --format json` on a pre-1.10 data-root: one object per v1 container, newest first.",
            ),
        ),
        (
            "audit",
            root::<AuditReport<'static>>("audit", "strata audit report", "Output of `strata audit --format json`: one object per run."),
        ),
        ("df", root::<DfJson<'static>>("df", "strata df report", "Output of `strata df --format json`.")),
        ("volumes", root::<VolumesJson<'static>>("volumes", "strata volumes report", "Output of `strata volumes --format json`.")),
        (
            "registry-check",
            root::<super::online::RegistryCheckJson<'static>>(
                "registry-check",
                "strata registry-check report",
                "Output of `strata registry-check --format json`: local repo digests asked of their live registries.",
            ),
        ),
        (
            "timeline-line",
            root::<super::timeline::TimelineLine>(
                "timeline-line",
                "strata timeline line",
                "One line of `strata timeline --format jsonl`: a file or an event at one of its times.",
            ),
        ),
    ]
}
