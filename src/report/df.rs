//! `strata df`: the disk-usage account as `docker system df -v` would print it, plus
//! the orphans Docker does not see.

use super::{human_size, new_table, opt_size, write_json, write_table, Format, Layout};
use crate::analysis::df::DiskUsage;
use crate::finding::terminal_safe;
use serde::Serialize;
use std::io::{self, Write};

/// The `--format json` shape: `{layers_size, images, containers, orphaned, summary}`.
#[derive(Serialize)]
struct DfJson<'a> {
    schema_version: &'static str,
    #[serde(flatten)]
    usage: &'a DiskUsage,
}

/// `1.983MB (99%)`, as the docker CLI shows reclaimable space.
fn with_percent(part: i64, whole: i64) -> String {
    if whole <= 0 || part <= 0 {
        return human_size(part.max(0));
    }
    // In i128: `part * 100` overflows i64 for sizes near its limit (hostile `size` files).
    format!("{} ({}%)", human_size(part), i128::from(part) * 100 / i128::from(whole))
}

pub fn write_df(out: &mut dyn Write, du: &DiskUsage, format: Format, layout: Layout) -> io::Result<()> {
    if format == Format::Json {
        return write_json(out, &DfJson { schema_version: super::SCHEMA_VERSION, usage: du });
    }
    write_summary(out, du, layout)?;

    writeln!(out, "\nImages space usage:\n")?;
    let mut t = new_table(&["REPOSITORY", "TAG", "IMAGE ID", "SIZE", "SHARED SIZE", "UNIQUE SIZE", "CONTAINERS"]);
    for img in &du.images {
        let mut names: Vec<(String, String)> = img
            .repo_tags
            .iter()
            .map(|t| match t.rsplit_once(':') {
                Some((r, tag)) if !tag.contains('/') => (r.to_owned(), tag.to_owned()),
                _ => (t.clone(), "<none>".to_owned()),
            })
            .collect();
        if names.is_empty() {
            names = img.repo_digests.iter().map(|d| (d.split('@').next().unwrap_or(d).to_owned(), "<none>".to_owned())).take(1).collect();
        }
        if names.is_empty() {
            names.push(("<none>".into(), "<none>".into()));
        }
        for (repo, tag) in names {
            t.add_row(vec![
                terminal_safe(&repo),
                terminal_safe(&tag),
                img.id.short(),
                opt_size(img.size),
                opt_size(img.shared_size),
                opt_size(img.unique_size),
                img.containers.to_string(),
            ]);
        }
    }
    write_table(out, t, layout)?;

    writeln!(out, "\nContainers space usage:\n")?;
    let mut t = new_table(&["CONTAINER ID", "IMAGE", "STATUS", "SIZE", "ROOTFS SIZE", "NAMES"]);
    for c in &du.containers {
        t.add_row(vec![
            c.id.chars().take(12).collect(),
            c.image.map(|i| i.short()).unwrap_or_else(|| "?".into()),
            c.state.clone(),
            opt_size(c.rw_size),
            opt_size(c.rootfs_size),
            terminal_safe(c.name.as_deref().unwrap_or("")),
        ]);
    }
    write_table(out, t, layout)?;

    if !du.orphaned.is_empty() {
        writeln!(out, "\nOrphaned (never freed by docker system prune):\n")?;
        let mut t = new_table(&["KIND", "PATH", "SIZE"]);
        for o in &du.orphaned {
            let kind = serde_json::to_value(o.kind).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
            t.add_row(vec![kind, terminal_safe(&o.path), opt_size(o.size)]);
        }
        write_table(out, t, layout)?;
    }
    Ok(())
}

/// The four-line summary of `docker system df`, with an `Orphaned` row.
pub fn write_summary(out: &mut dyn Write, du: &DiskUsage, layout: Layout) -> io::Result<()> {
    let s = &du.summary;
    let mut t = new_table(&["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]);
    for (name, row) in [("Images", &s.images), ("Containers", &s.containers), ("Orphaned", &s.orphaned)] {
        t.add_row(vec![
            name.to_owned(),
            row.total_count.to_string(),
            row.active.to_string(),
            human_size(row.size),
            with_percent(row.reclaimable, row.size),
        ]);
    }
    write_table(out, t, layout)
}
