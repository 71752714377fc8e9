//! `strata df`: the disk-usage account as `docker system df -v` would print it, plus
//! the orphans Docker does not see.

use super::{human_size, new_table, opt_size, write_json, write_table, Format, Layout};
use crate::analysis::df::DiskUsage;
use crate::analysis::reconcile::Reconcile;
use crate::finding::terminal_safe;
use serde::Serialize;
use std::io::{self, Write};

/// The `--format json` shape: `{layers_size, images, containers, volumes, build_cache, logs, orphaned, summary}`.
#[derive(schemars::JsonSchema, Serialize)]
pub(crate) struct DfJson<'a> {
    #[schemars(extend("const" = "1"))]
    schema_version: &'static str,
    #[serde(flatten)]
    usage: &'a DiskUsage,
    /// With `--reconcile` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    reconcile: Option<&'a Reconcile>,
}

/// `1.983MB (99%)`, as the docker CLI shows reclaimable space.
fn with_percent(part: i64, whole: i64) -> String {
    if whole <= 0 || part <= 0 {
        return human_size(part.max(0));
    }
    // In i128: `part * 100` overflows i64 for sizes near its limit (hostile `size` files).
    format!("{} ({}%)", human_size(part), i128::from(part) * 100 / i128::from(whole))
}

/// `strata df`: the `docker system df` table plus what prune never frees; or [`DiskUsage`] as JSON.
pub fn write_df(
    out: &mut dyn Write,
    du: &DiskUsage,
    reconcile: Option<&Reconcile>,
    format: Format,
    layout: Layout,
) -> io::Result<()> {
    if format == Format::Json {
        return write_json(
            out,
            &DfJson { schema_version: super::SCHEMA_VERSION, usage: du, reconcile },
        );
    }
    write_summary(out, du, layout)?;

    writeln!(out, "\nImages space usage:\n")?;
    let mut t = new_table(&[
        "REPOSITORY",
        "TAG",
        "IMAGE ID",
        "SIZE",
        "SHARED SIZE",
        "UNIQUE SIZE",
        "CONTAINERS",
    ]);
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
            names = img
                .repo_digests
                .iter()
                .map(|d| (d.split('@').next().unwrap_or(d).to_owned(), "<none>".to_owned()))
                .take(1)
                .collect();
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
            c.id.short().to_owned(),
            c.image.map(|i| i.short()).unwrap_or_else(|| "?".into()),
            c.state.clone(),
            opt_size(c.rw_size),
            opt_size(c.rootfs_size),
            terminal_safe(c.name.as_deref().unwrap_or("")),
        ]);
    }
    write_table(out, t, layout)?;

    if !du.volumes.is_empty() {
        writeln!(out, "\nLocal Volumes space usage:\n")?;
        let mut t = new_table(&["VOLUME NAME", "LINKS", "SIZE"]);
        for v in &du.volumes {
            t.add_row(vec![terminal_safe(&v.name), v.ref_count.to_string(), opt_size(v.size)]);
        }
        write_table(out, t, layout)?;
    }

    if !du.build_cache.is_empty() {
        writeln!(out, "\nBuild cache usage: {}\n", human_size(du.summary.build_cache.size))?;
        let mut t = new_table(&[
            "CACHE ID",
            "CACHE TYPE",
            "SIZE",
            "CREATED",
            "LAST USED",
            "USAGE",
            "SHARED",
        ]);
        for r in &du.build_cache {
            t.add_row(vec![
                terminal_safe(&r.id),
                terminal_safe(&r.record_type),
                opt_size(r.size),
                terminal_safe(r.created_at.as_deref().unwrap_or("")),
                terminal_safe(r.last_used_at.as_deref().unwrap_or("")),
                r.usage_count.to_string(),
                r.shared.to_string(),
            ]);
        }
        write_table(out, t, layout)?;
    }

    if !du.logs.is_empty() {
        writeln!(out, "\nContainer logs (not counted by docker system df):\n")?;
        let mut t = new_table(&["CONTAINER ID", "DRIVER", "FILES", "SIZE", "ALLOCATED"]);
        for l in &du.logs {
            t.add_row(vec![
                l.container.chars().take(12).collect(),
                l.driver.clone(),
                l.files.len().to_string(),
                human_size(i64::try_from(l.size).unwrap_or(i64::MAX)),
                human_size(i64::try_from(l.allocated).unwrap_or(i64::MAX)),
            ]);
        }
        write_table(out, t, layout)?;
    }

    if !du.orphaned.is_empty() {
        writeln!(out, "\nOrphaned (never freed by docker system prune):\n")?;
        let mut t = new_table(&["KIND", "PATH", "SIZE"]);
        for o in &du.orphaned {
            let kind = serde_json::to_value(o.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            t.add_row(vec![kind, terminal_safe(&o.path), opt_size(o.size)]);
        }
        write_table(out, t, layout)?;
    }
    if let Some(r) = reconcile {
        write_reconcile(out, r, layout)?;
    }
    Ok(())
}

fn u(n: u64) -> String {
    human_size(i64::try_from(n).unwrap_or(i64::MAX))
}

/// The `--reconcile` account: rows against the disk, then every unexplained path, then the total.
fn write_reconcile(out: &mut dyn Write, r: &Reconcile, layout: Layout) -> io::Result<()> {
    writeln!(out, "\nReconciled with the disk (each inode once, as du counts):\n")?;
    let mut t = new_table(&["ROW / PATH", "DF SIZE", "APPARENT", "ALLOCATED", "ENTRIES", "WHAT"]);
    for row in &r.rows {
        t.add_row(vec![
            row.row.label().to_owned(),
            human_size(row.df_size),
            u(row.on_disk.apparent),
            u(row.on_disk.allocated),
            row.on_disk.entries.to_string(),
            String::new(),
        ]);
    }
    for x in &r.unexplained {
        t.add_row(vec![
            terminal_safe(&x.path),
            "-".to_owned(),
            u(x.on_disk.apparent),
            u(x.on_disk.allocated),
            x.on_disk.entries.to_string(),
            x.what.clone(),
        ]);
    }
    t.add_row(vec![
        "TOTAL".to_owned(),
        "".to_owned(),
        format!("{} ({} B)", u(r.total.apparent), r.total.apparent),
        format!("{} ({} B)", u(r.total.allocated), r.total.allocated),
        r.total.entries.to_string(),
        String::new(),
    ]);
    write_table(out, t, layout)
}

/// The four rows of `docker system df`, with `Logs` and `Orphaned` rows.
pub fn write_summary(out: &mut dyn Write, du: &DiskUsage, layout: Layout) -> io::Result<()> {
    let s = &du.summary;
    let mut t = new_table(&["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]);
    for (name, row) in [
        ("Images", &s.images),
        ("Containers", &s.containers),
        ("Local Volumes", &s.volumes),
        ("Build Cache", &s.build_cache),
        ("Logs", &s.logs),
        ("Orphaned", &s.orphaned),
    ] {
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
