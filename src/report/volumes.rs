//! `strata volumes` and `strata inspect VOLUME`.

use super::{new_table, opt_size, write_json, write_table, Format, Layout};
use crate::finding::terminal_safe;
use crate::store::volumes::Volume;
use serde::Serialize;
use std::io::{self, Write};

#[derive(schemars::JsonSchema, Serialize)]
pub(crate) struct VolumesJson<'a> {
    schema_version: &'static str,
    volumes: &'a [Volume],
}

/// The volume list: table (`DRIVER VOLUME NAME ...`) or `{schema_version, volumes}`.
pub fn write_volumes(
    out: &mut dyn Write,
    volumes: &[Volume],
    format: Format,
    layout: Layout,
) -> io::Result<()> {
    if format == Format::Json {
        return write_json(out, &VolumesJson { schema_version: super::SCHEMA_VERSION, volumes });
    }
    let mut t = new_table(&["DRIVER", "VOLUME NAME", "ANONYMOUS", "LINKS", "SIZE", "RECLAIMABLE"]);
    for v in volumes {
        t.add_row(vec![
            terminal_safe(&v.driver),
            terminal_safe(&v.name),
            v.anonymous.to_string(),
            v.ref_count.to_string(),
            opt_size(v.size),
            v.reclaimable().to_string(),
        ]);
    }
    write_table(out, t, layout)
}

#[derive(schemars::JsonSchema, Serialize)]
struct VolumeInspect<'a> {
    kind: &'static str,
    #[serde(flatten)]
    volume: &'a Volume,
}

/// One volume as JSON, with `"kind": "volume"`.
pub fn write_volume_inspect(out: &mut dyn Write, v: &Volume) -> io::Result<()> {
    write_json(out, &VolumeInspect { kind: "volume", volume: v })
}
