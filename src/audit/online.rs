//! The online cross-check: ask the registries this host's images came from whether
//! they still serve what the host recorded (`strata audit --online`,
//! `strata registry-check`).
//!
//! For every local repo digest whose registry is named (graphdriver: RepoDigests;
//! containerd: the image's names and its target's `containerd.io/distribution.source.*`
//! labels), strata gets the manifest by digest and checks that it hashes to its name,
//! finds the platform manifest under an index, compares the config with the local
//! image, compares the layer blobs with the local distribution metadata
//! (`v2metadata-by-diffid`, `diffid-by-digest`, or the content labels), gets the config
//! and `HEAD`s every layer blob. Every tag of the image in that repository is asked
//! too: a tag that moved is drift (info), not damage. The HTTP side is
//! [`crate::online`]; nothing here touches the data-root.

use crate::digest::{DiffId, Digest, ImageId};
use crate::finding::{terminal_safe, Code, Finding};
use crate::graph::Graph;
use crate::online::auth::AuthStore;
use crate::online::client::{Answer, AuthUsed, FetchError, RegistryClient};
use crate::online::{is_valid_host, is_valid_repo, is_valid_tag, Limits, RegistryAddr};
use crate::reference::Reference;
use crate::store::registry::{parse_manifest, ManifestKind};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// Index children tried when looking for the platform manifest the host has.
const MAX_INDEX_CANDIDATES: usize = 8;

/// What the online check is asked to do.
#[derive(Debug, Clone, Default)]
pub struct OnlineOptions {
    /// Time, concurrency, size and redirect bounds.
    pub limits: Limits,
    /// Credentials by registry host.
    pub auth: AuthStore,
    /// `host:port` allowed over plain HTTP (`--insecure-registry`).
    pub insecure: Vec<String>,
    /// Only these images (`registry-check REF...`); every image when `None`.
    pub only: Option<BTreeSet<ImageId>>,
    /// Only these registry hosts (`--registry`); every registry the images name when empty.
    pub registries: Vec<String>,
}

/// How one repo digest fared.
#[derive(schemars::JsonSchema, Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnlineStatus {
    /// Served, hashing right, same config, same layers, every blob there.
    Verified,
    /// As verified, but a tag now points elsewhere (drift).
    TagMoved,
    /// Something served disagrees with the host or with its own digest: see the findings.
    Mismatch,
    /// The registry no longer serves this manifest.
    Gone,
    /// The registry could not be asked (or its answer was refused): see the findings.
    Unreachable,
}

/// One tag of the image in the repository, as the registry answers it now.
#[derive(schemars::JsonSchema, Debug, Clone, Serialize)]
pub struct TagCheck {
    /// The tag.
    pub tag: String,
    /// The manifest digest the registry gives for it now; `None` when it is gone or unknown.
    pub remote: Option<Digest>,
    /// Whether it points at another manifest than the host's.
    pub moved: bool,
}

/// One local repo digest checked against its registry.
#[derive(schemars::JsonSchema, Debug, Clone, Serialize)]
pub struct OnlineCheck {
    /// The local image.
    pub image: ImageId,
    /// `host/repository@sha256:...`.
    pub reference: String,
    /// The registry host, as references name it.
    pub registry: String,
    /// The repository path in that registry.
    pub repository: String,
    /// The manifest (or index) digest the host recorded.
    pub digest: Digest,
    /// Where the host's digest came from: `repo-digest` (graphdriver RepoDigests) or
    /// `distribution-source` (a containerd image name its target's label confirms).
    pub source: String,
    /// The image's tags in this repository.
    pub tags: Vec<TagCheck>,
    /// The outcome.
    pub status: OnlineStatus,
    /// The platform manifest under an index that matched the local config.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform_manifest: Option<Digest>,
    /// Layer blobs the registry confirmed (HEAD answered with the blob).
    pub layers_present: usize,
}

/// One registry asked.
#[derive(schemars::JsonSchema, Debug, Clone, Serialize)]
pub struct RegistryContact {
    /// The host, as references name it.
    pub host: String,
    /// Where the API was asked (`https://...` or, with `--insecure-registry`, `http://...`).
    pub url: String,
    /// How strata authenticated: anonymous, basic or bearer.
    pub auth: String,
    /// Whether credentials for it were configured (never what they are).
    pub credentials: bool,
    /// Requests sent (retries and token requests included).
    pub requests: usize,
    /// Why it could not be asked, if so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unreachable: Option<String>,
}

/// What the online check asked and found.
#[derive(schemars::JsonSchema, Debug, Clone, Serialize)]
pub struct OnlineReport {
    /// Every registry asked.
    pub registries: Vec<RegistryContact>,
    /// One entry per local repo digest whose registry is named.
    pub checks: Vec<OnlineCheck>,
    /// Said when nothing could be asked (no network) or nothing was there to ask.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Wall time of the online part, in milliseconds.
    pub elapsed_ms: u64,
}

/// What the host recorded about one image, to compare the registry's answers with.
#[derive(Debug, Clone)]
struct Expect {
    config: Digest,
    /// containerd: the platform manifest the host unpacked.
    manifest: Option<Digest>,
    os: Option<String>,
    arch: Option<String>,
    variant: Option<String>,
    diff_ids: Vec<DiffId>,
    /// Per layer position: blobs the host's metadata maps to that DiffID.
    known: Vec<BTreeSet<Digest>>,
    /// Blob -> the DiffID the host's `diffid-by-digest` maps it to.
    diffid_by_blob: BTreeMap<Digest, DiffId>,
    created: Option<String>,
}

/// One (image, registry, repository) with its digests and tags.
#[derive(Debug, Clone)]
struct Group {
    image: ImageId,
    host: String,
    repo: String,
    /// Digest and where it came from.
    digests: Vec<(Digest, &'static str)>,
    tags: Vec<String>,
    expect: Expect,
}

/// Runs the online check; findings go to `out`.
pub fn check_online(g: &Graph, opts: &OnlineOptions, out: &mut Vec<Finding>) -> OnlineReport {
    let started = Instant::now();
    let deadline = started + opts.limits.total_timeout;
    let groups = groups(g, opts);
    let hosts: BTreeSet<&str> = groups.iter().map(|gr| gr.host.as_str()).collect();
    let clients: BTreeMap<String, RegistryClient> = hosts
        .iter()
        .map(|h| {
            let addr = RegistryAddr::new(h, &opts.insecure);
            (
                h.to_string(),
                RegistryClient::new(addr, &opts.auth, &opts.insecure, opts.limits, deadline),
            )
        })
        .collect();
    let dead: Mutex<BTreeMap<String, String>> = Mutex::new(BTreeMap::new());
    let next = AtomicUsize::new(0);
    // Each group's checks and findings, by its index: sorted back into order after.
    type Done = (usize, Vec<OnlineCheck>, Vec<Finding>);
    let results: Mutex<Vec<Done>> = Mutex::new(Vec::new());
    let workers = opts.limits.concurrency.clamp(1, 16).min(groups.len().max(1));
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(gr) = groups.get(i) else { break };
                let Some(client) = clients.get(&gr.host) else { continue };
                let mut f = Vec::new();
                let checks = check_group(client, gr, &dead, &opts.limits, &mut f);
                if let Ok(mut r) = results.lock() {
                    r.push((i, checks, f));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_default();
    results.sort_by_key(|r| r.0);
    let mut checks = Vec::new();
    for (_, c, f) in results {
        checks.extend(c);
        out.extend(f);
    }
    checks.sort_by(|a, b| a.reference.cmp(&b.reference));
    let dead = dead.into_inner().unwrap_or_default();
    let registries: Vec<RegistryContact> = clients
        .values()
        .map(|c| RegistryContact {
            host: c.addr().host.clone(),
            url: c.addr().base_url(),
            auth: match c.auth_used() {
                AuthUsed::Anonymous => "anonymous",
                AuthUsed::Basic => "basic",
                AuthUsed::Bearer => "bearer",
            }
            .into(),
            credentials: opts.auth.get(&c.addr().host).is_some(),
            requests: c.requests(),
            unreachable: dead.get(&c.addr().host).cloned(),
        })
        .collect();
    for r in &registries {
        if let Some(why) = &r.unreachable {
            out.push(
                Finding::info(
                    Code::RegistryUnreachable,
                    format!("registry {} ({}) could not be asked: {why}; its images were not checked online", r.host, r.url),
                )
                .with_subject(r.host.clone()),
            );
        }
    }
    let note = if groups.is_empty() {
        Some("no local image names a registry it came from (no repo digest, no distribution-source label): nothing to ask".into())
    } else if !registries.is_empty() && registries.iter().all(|r| r.unreachable.is_some()) {
        Some(format!(
            "no registry could be reached ({}): this report is the offline one",
            registries.iter().map(|r| r.host.as_str()).collect::<Vec<_>>().join(", ")
        ))
    } else {
        None
    };
    OnlineReport { registries, checks, note, elapsed_ms: started.elapsed().as_millis() as u64 }
}

/// What the host knows, gathered into one group per (image, registry, repository).
fn groups(g: &Graph, opts: &OnlineOptions) -> Vec<Group> {
    let mut by_key: BTreeMap<(ImageId, String, String), Group> = BTreeMap::new();
    for img in g.images.values() {
        if opts.only.as_ref().is_some_and(|o| !o.contains(&img.id())) {
            continue;
        }
        let Some(expect) = expect(g, img) else { continue };
        let mut add = |host: &str, repo: &str, digest: Digest, source: &'static str| {
            if !is_valid_host(host) || !is_valid_repo(repo) {
                return;
            }
            if !opts.registries.is_empty()
                && !opts.registries.iter().any(|r| r.eq_ignore_ascii_case(host))
            {
                return;
            }
            let gr =
                by_key.entry((img.id(), host.to_owned(), repo.to_owned())).or_insert_with(|| {
                    Group {
                        image: img.id(),
                        host: host.to_owned(),
                        repo: repo.to_owned(),
                        digests: Vec::new(),
                        tags: Vec::new(),
                        expect: expect.clone(),
                    }
                });
            if !gr.digests.iter().any(|(d, _)| *d == digest) {
                gr.digests.push((digest, source));
            }
        };
        // containerd derives RepoDigests from every name, pulled or only tagged here;
        // what it pulled from where is in the target's distribution-source labels.
        let repo_digests = if img.containerd.is_some() { &[][..] } else { &img.repo_digests[..] };
        for rd in repo_digests {
            let Ok(r) = Reference::parse(rd) else { continue };
            let Some(d) = r.digest else { continue };
            if let Some((host, repo)) = r.name.split_once('/') {
                add(host, repo, d, "repo-digest");
            }
        }
        if let (Some(info), Some(store)) = (&img.containerd, g.containerd.as_ref()) {
            // containerd's label key drops the port (`...source.127.0.0.1=strata/app`),
            // and BuildKit labels what a FROM resolved as well as what was pulled: a name
            // of the image, with its registry and port, that a label confirms is asked.
            let target = *img.id().digest();
            let labels = store.store.blobs.get(&target).map(|b| &b.labels);
            let confirmed = |host: &str, repo: &str| {
                let bare = host.rsplit_once(':').map_or(host, |(h, p)| {
                    if p.bytes().all(|b| b.is_ascii_digit()) {
                        h
                    } else {
                        host
                    }
                });
                labels
                    .and_then(|l| l.get(&format!("containerd.io/distribution.source.{bare}")))
                    .is_some_and(|v| v.split(',').any(|r| r == repo))
            };
            for n in &info.names {
                let Ok(r) = Reference::parse(n) else { continue };
                if let Some((host, repo)) = r.name.split_once('/') {
                    if confirmed(host, repo) {
                        add(host, repo, target, "distribution-source");
                    }
                }
            }
        }
        for t in &img.repo_tags {
            let Ok(r) = Reference::parse(t) else { continue };
            let (Some(tag), Some((host, repo))) = (r.tag.as_deref(), r.name.split_once('/')) else {
                continue;
            };
            if let Some(gr) = by_key.get_mut(&(img.id(), host.to_owned(), repo.to_owned())) {
                if is_valid_tag(tag) && !gr.tags.iter().any(|x| x == tag) {
                    gr.tags.push(tag.to_owned());
                }
            }
        }
    }
    by_key.into_values().collect()
}

fn expect(g: &Graph, img: &crate::graph::ImageNode) -> Option<Expect> {
    let cfg = img.record.config.as_ref();
    let (config, manifest) = match &img.containerd {
        Some(c) => (c.config?, c.manifest),
        None => (*img.id().digest(), None),
    };
    let diff_ids: Vec<DiffId> = cfg.and_then(|c| c.diff_ids.clone()).unwrap_or_default();
    let known = diff_ids
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let mut s: BTreeSet<Digest> = g
                .distribution
                .v2metadata_by_diffid
                .get(d)
                .into_iter()
                .flatten()
                .map(|m| m.digest)
                .collect();
            if let Some(l) = img.chain_ids.get(i).and_then(|c| g.layers.get(c)) {
                s.extend(l.blobs.iter().map(|b| b.digest));
            }
            s.extend(
                g.distribution.diffid_by_digest.iter().filter(|(_, v)| *v == d).map(|(k, _)| *k),
            );
            s
        })
        .collect();
    Some(Expect {
        config,
        manifest,
        os: cfg.and_then(|c| c.os.clone()),
        arch: cfg.and_then(|c| c.architecture.clone()),
        variant: cfg.and_then(|c| c.variant.clone()),
        diff_ids,
        known,
        diffid_by_blob: g.distribution.diffid_by_digest.clone(),
        created: cfg.and_then(|c| c.created.clone()),
    })
}

/// Index entries with their platforms (the registry module's parser keeps digests only).
#[derive(Deserialize)]
struct RawIndex {
    #[serde(default)]
    manifests: Vec<RawEntry>,
}
#[derive(Deserialize)]
struct RawEntry {
    digest: Option<String>,
    platform: Option<RawPlatform>,
}
#[derive(Deserialize)]
struct RawPlatform {
    os: Option<String>,
    architecture: Option<String>,
    variant: Option<String>,
}
#[derive(Deserialize)]
struct RawCreated {
    created: Option<String>,
}

/// Context for one group's findings.
struct Ctx<'a> {
    client: &'a RegistryClient,
    gr: &'a Group,
    dead: &'a Mutex<BTreeMap<String, String>>,
    limits: &'a Limits,
}

impl Ctx<'_> {
    fn name(&self) -> String {
        format!("{}/{}", self.gr.host, self.gr.repo)
    }

    fn finding(
        &self,
        code: Code,
        sev: crate::finding::Severity,
        subject: String,
        msg: String,
    ) -> Finding {
        Finding::new(code, sev, terminal_safe(&msg)).with_image(self.gr.image).with_subject(subject)
    }

    fn is_dead(&self) -> Option<String> {
        self.dead.lock().ok().and_then(|d| d.get(&self.gr.host).cloned())
    }

    /// A failure of the registry as a whole (transport) marks it dead so the other
    /// images skip it; any other failure is this request's.
    fn failed(&self, e: &FetchError, what: &str, subject: String, out: &mut Vec<Finding>) {
        if e.is_transport() {
            if let Ok(mut d) = self.dead.lock() {
                d.entry(self.gr.host.clone()).or_insert_with(|| e.to_string());
            }
        } else {
            out.push(self.finding(
                Code::RegistryUnreachable,
                crate::finding::Severity::Info,
                subject,
                format!("{what}: {e}"),
            ));
        }
    }
}

fn check_group(
    client: &RegistryClient,
    gr: &Group,
    dead: &Mutex<BTreeMap<String, String>>,
    limits: &Limits,
    out: &mut Vec<Finding>,
) -> Vec<OnlineCheck> {
    use crate::finding::Severity::Info;
    let cx = Ctx { client, gr, dead, limits };
    let name = cx.name();
    let mut checks: Vec<OnlineCheck> = gr
        .digests
        .iter()
        .map(|(d, src)| OnlineCheck {
            image: gr.image,
            reference: format!("{name}@{d}"),
            registry: gr.host.clone(),
            repository: gr.repo.clone(),
            digest: *d,
            source: (*src).into(),
            tags: Vec::new(),
            status: OnlineStatus::Unreachable,
            platform_manifest: None,
            layers_present: 0,
        })
        .collect();
    let mut gone: BTreeSet<Digest> = BTreeSet::new();
    for c in &mut checks {
        if cx.is_dead().is_some() {
            break;
        }
        c.status = check_digest(&cx, c, out);
        if c.status == OnlineStatus::Gone {
            gone.insert(c.digest);
        }
    }
    // Tags: where each points now.
    let ours: BTreeSet<Digest> = gr.digests.iter().map(|(d, _)| *d).collect();
    let mut tag_checks = Vec::new();
    for tag in &gr.tags {
        if cx.is_dead().is_some() {
            break;
        }
        let subject = format!("{name}:{tag}");
        let remote = match client.manifest(&gr.repo, tag, true) {
            Ok(a) if a.status == 404 => None,
            Ok(a) if a.status == 200 => match a.header_digest() {
                Some(d) => Some(d),
                // No header: the digest is the hash of what GET serves.
                None => match client.manifest(&gr.repo, tag, false) {
                    Ok(b) if b.status == 200 => Some(Digest::of(&b.body)),
                    Ok(b) => {
                        out.push(cx.finding(
                            Code::RegistryUnreachable,
                            Info,
                            subject.clone(),
                            format!(
                                "{subject}: the registry answered HTTP {} for the tag",
                                b.status
                            ),
                        ));
                        continue;
                    }
                    Err(e) => {
                        cx.failed(
                            &e,
                            &format!("{subject}: asking for the tag"),
                            subject.clone(),
                            out,
                        );
                        continue;
                    }
                },
            },
            Ok(a) => {
                out.push(cx.finding(
                    Code::RegistryUnreachable,
                    Info,
                    subject.clone(),
                    format!("{subject}: the registry answered HTTP {} for the tag", a.status),
                ));
                continue;
            }
            Err(e) => {
                cx.failed(&e, &format!("{subject}: asking for the tag"), subject.clone(), out);
                continue;
            }
        };
        let moved = remote.is_none_or(|r| !ours.contains(&r));
        let local: Vec<String> = ours.iter().map(|d| d.to_string()).collect();
        match remote {
            None if !gone.is_empty() => {
                // The tag went with the manifest: one finding (manifest gone) says both.
                if let Some(f) = out
                    .iter_mut()
                    .rev()
                    .find(|f| f.code == Code::RegistryManifestGone && f.image == Some(gr.image))
                {
                    f.message.push_str(&format!("; tag {tag} is gone too"));
                }
            }
            None => out.push(cx.finding(
                Code::RegistryTagMoved,
                Info,
                subject.clone(),
                format!(
                    "{subject}: the tag no longer exists in the registry; this host has it at {}",
                    local.join(", ")
                ),
            )),
            Some(r) if moved => {
                let when = tag_times(&cx, &r, &gr.expect);
                out.push(cx.finding(
                    Code::RegistryTagMoved,
                    Info,
                    subject.clone(),
                    format!("{subject}: tag moved: this host recorded {}, the registry now gives {r}{when}", local.join(", ")),
                ));
            }
            Some(_) => {}
        }
        tag_checks.push(TagCheck { tag: tag.clone(), remote, moved });
    }
    let any_moved = tag_checks.iter().any(|t| t.moved);
    for c in &mut checks {
        c.tags = tag_checks.clone();
        if any_moved && c.status == OnlineStatus::Verified {
            c.status = OnlineStatus::TagMoved;
        }
    }
    checks
}

/// `, created <local> (this host) and <remote> (the tag's image now)` when both configs tell.
fn tag_times(cx: &Ctx<'_>, remote: &Digest, e: &Expect) -> String {
    let remote_created = (|| {
        let a = cx.client.manifest(&cx.gr.repo, &remote.to_string(), false).ok()?;
        if a.status != 200 || Digest::of(&a.body) != *remote {
            return None;
        }
        let m = parse_manifest(*remote, &a.body);
        let cfg = m.config?;
        let b = cx.client.blob(&cx.gr.repo, &cfg, false, cx.limits.max_config_bytes).ok()?;
        (b.status == 200 && Digest::of(&b.body) == cfg)
            .then(|| serde_json::from_slice::<RawCreated>(&b.body).ok()?.created)
            .flatten()
    })();
    match (&e.created, remote_created) {
        (Some(l), Some(r)) => format!(" (image created {l} here, {r} in the registry)"),
        (Some(l), None) => format!(" (image created {l} here)"),
        (None, Some(r)) => format!(" (the registry's image created {r})"),
        (None, None) => String::new(),
    }
}

/// GET a manifest by digest and check it hashes to it; `Err(status)` when it must stop.
fn fetch_verified(
    cx: &Ctx<'_>,
    digest: &Digest,
    subject: &str,
    out: &mut Vec<Finding>,
) -> Result<Answer, OnlineStatus> {
    use crate::finding::Severity::{Error, Info, Warning};
    let name = cx.name();
    let a = match cx.client.manifest(&cx.gr.repo, &digest.to_string(), false) {
        Ok(a) => a,
        Err(e) => {
            cx.failed(
                &e,
                &format!("{subject}: getting manifest {digest}"),
                subject.to_owned(),
                out,
            );
            return Err(OnlineStatus::Unreachable);
        }
    };
    if a.status == 404 {
        out.push(cx.finding(
            Code::RegistryManifestGone,
            Warning,
            subject.to_owned(),
            format!("{name}: the registry no longer serves manifest {digest} (HTTP 404), which this host recorded{}", tags_said(cx)),
        ));
        return Err(OnlineStatus::Gone);
    }
    if a.status != 200 {
        out.push(cx.finding(
            Code::RegistryUnreachable,
            Info,
            subject.to_owned(),
            format!("{subject}: the registry answered HTTP {} for manifest {digest}", a.status),
        ));
        return Err(OnlineStatus::Unreachable);
    }
    let actual = Digest::of(&a.body);
    let header = a.header_digest();
    let header_bad = a.content_digest.is_some() && header != Some(*digest);
    if actual != *digest || header_bad {
        let mut why = Vec::new();
        if actual != *digest {
            why.push(format!("its bytes hash to {actual}"));
        }
        if header_bad {
            why.push(format!(
                "its Docker-Content-Digest says {}",
                a.content_digest.as_deref().unwrap_or_default()
            ));
        }
        out.push(cx.finding(
            Code::RegistryContentMismatch,
            Error,
            subject.to_owned(),
            format!(
                "{name}: the registry served manifest {digest}{}, but {}",
                tags_said(cx),
                why.join(" and ")
            ),
        ));
        return Err(OnlineStatus::Mismatch);
    }
    Ok(a)
}

fn tags_said(cx: &Ctx<'_>) -> String {
    if cx.gr.tags.is_empty() {
        String::new()
    } else {
        format!(" (tag {})", cx.gr.tags.join(", "))
    }
}

fn check_digest(cx: &Ctx<'_>, c: &mut OnlineCheck, out: &mut Vec<Finding>) -> OnlineStatus {
    use crate::finding::Severity::{Error, Info, Warning};
    let name = cx.name();
    let e = &cx.gr.expect;
    let subject = c.reference.clone();
    let a = match fetch_verified(cx, &c.digest, &subject, out) {
        Ok(a) => a,
        Err(s) => return s,
    };
    let top = parse_manifest(c.digest, &a.body);
    let manifest = match top.kind {
        ManifestKind::Manifest => top,
        ManifestKind::Index => {
            let idx: RawIndex =
                serde_json::from_slice(&a.body).unwrap_or(RawIndex { manifests: vec![] });
            let mut cands: Vec<Digest> = Vec::new();
            if let Some(m) = e.manifest.filter(|m| top.manifests.contains(m)) {
                cands.push(m);
            }
            for en in &idx.manifests {
                let Some(d) = en.digest.as_deref().and_then(|s| Digest::parse(s).ok()) else {
                    continue;
                };
                let fits = en.platform.as_ref().is_none_or(|p| {
                    (e.os.is_none() || p.os == e.os)
                        && (e.arch.is_none() || p.architecture == e.arch)
                        && (e.variant.is_none() || p.variant.is_none() || p.variant == e.variant)
                });
                if fits && !cands.contains(&d) {
                    cands.push(d);
                }
            }
            let mut found = None;
            let mut configs = Vec::new();
            for d in cands.iter().take(MAX_INDEX_CANDIDATES) {
                let sub = format!("{name}@{d}");
                let Ok(ca) = fetch_verified(cx, d, &sub, out) else { continue };
                let m = parse_manifest(*d, &ca.body);
                if m.kind == ManifestKind::Manifest {
                    if m.config == Some(e.config) {
                        found = Some(m);
                        break;
                    }
                    configs.extend(m.config.map(|c| c.to_string()));
                }
            }
            match found {
                Some(m) => {
                    c.platform_manifest = Some(m.digest);
                    m
                }
                None => {
                    out.push(cx.finding(
                        Code::RegistryConfigMismatch,
                        Error,
                        subject.clone(),
                        format!(
                            "{name}: no manifest under index {}{} has config {} (the local image); the platform manifests name {}",
                            c.digest,
                            tags_said(cx),
                            e.config,
                            if configs.is_empty() { "none".to_owned() } else { configs.join(", ") }
                        ),
                    ));
                    return OnlineStatus::Mismatch;
                }
            }
        }
        ManifestKind::Schema1 | ManifestKind::Unknown => {
            out.push(cx.finding(
                Code::RegistryLegacyManifest,
                Info,
                subject.clone(),
                format!(
                    "{name}: manifest {} is not a schema2/OCI manifest or index; not cross-checked",
                    c.digest
                ),
            ));
            return OnlineStatus::Unreachable;
        }
    };
    let mut status = OnlineStatus::Verified;
    // Config: the same digest as the local image's, served, hashing right.
    if manifest.config != Some(e.config) {
        out.push(cx.finding(
            Code::RegistryConfigMismatch,
            Error,
            subject.clone(),
            format!(
                "{name}: manifest {}{} names config {}, but the local image's config is {}",
                manifest.digest,
                tags_said(cx),
                manifest.config.map(|d| d.to_string()).unwrap_or_else(|| "none".into()),
                e.config
            ),
        ));
        status = OnlineStatus::Mismatch;
    } else {
        match cx.client.blob(&cx.gr.repo, &e.config, false, cx.limits.max_config_bytes) {
            Ok(b) if b.status == 200 => {
                let h = Digest::of(&b.body);
                if h != e.config {
                    out.push(cx.finding(
                        Code::RegistryContentMismatch,
                        Error,
                        subject.clone(),
                        format!("{name}: the registry served config blob {}{}, but its bytes hash to {h}", e.config, tags_said(cx)),
                    ));
                    status = OnlineStatus::Mismatch;
                }
            }
            Ok(b) if b.status == 404 => {
                out.push(cx.finding(
                    Code::RegistryBlobGone,
                    Warning,
                    subject.clone(),
                    format!(
                        "{name}: config blob {} of manifest {} is not served (HTTP 404)",
                        e.config, manifest.digest
                    ),
                ));
                status = OnlineStatus::Mismatch;
            }
            Ok(b) => out.push(cx.finding(
                Code::RegistryUnreachable,
                Info,
                subject.clone(),
                format!("{name}: config blob {}: HTTP {}", e.config, b.status),
            )),
            Err(err) => {
                cx.failed(&err, &format!("{name}: config blob {}", e.config), subject.clone(), out)
            }
        }
    }
    // Layers: the blobs the host's metadata maps to each DiffID. Under another config
    // the manifest is another image, which the config finding already says.
    let mut differ = Vec::new();
    let same_config = manifest.config == Some(e.config);
    if same_config && !e.diff_ids.is_empty() && manifest.layers.len() != e.diff_ids.len() {
        differ.push(format!(
            "the manifest has {} layers, the local image {}",
            manifest.layers.len(),
            e.diff_ids.len()
        ));
    }
    let compared = if same_config { e.diff_ids.len() } else { 0 };
    for (i, (blob, diff)) in manifest.layers.iter().zip(&e.diff_ids).take(compared).enumerate() {
        if let Some(other) = e.diffid_by_blob.get(blob).filter(|d| *d != diff) {
            differ.push(format!(
                "layer {i} is blob {blob}, which diffid-by-digest maps to {other}, not {diff}"
            ));
        } else if !e.known[i].is_empty() && !e.known[i].contains(blob) {
            differ.push(format!(
                "layer {i} is blob {blob}; the host knows DiffID {diff} as {}",
                e.known[i].iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")
            ));
        }
    }
    if !differ.is_empty() {
        out.push(cx.finding(
            Code::RegistryLayersDiffer,
            Error,
            subject.clone(),
            format!("{name}: manifest {}{}: {}", manifest.digest, tags_said(cx), differ.join("; ")),
        ));
        status = OnlineStatus::Mismatch;
    }
    // Every layer blob served.
    let mut missing = Vec::new();
    for blob in &manifest.layers {
        match cx.client.blob(&cx.gr.repo, blob, true, 0) {
            Ok(b) if (200..300).contains(&b.status) => {
                if b.content_digest.is_some() && b.header_digest() != Some(*blob) {
                    out.push(cx.finding(
                        Code::RegistryContentMismatch,
                        Error,
                        subject.clone(),
                        format!("{name}: asked for layer blob {blob}, the registry's Docker-Content-Digest says {}", b.content_digest.as_deref().unwrap_or_default()),
                    ));
                    status = OnlineStatus::Mismatch;
                } else {
                    c.layers_present += 1;
                }
            }
            Ok(b) if b.status == 404 => missing.push(blob.to_string()),
            Ok(b) => out.push(cx.finding(
                Code::RegistryUnreachable,
                Info,
                subject.clone(),
                format!("{name}: layer blob {blob}: HTTP {}", b.status),
            )),
            Err(err) => {
                cx.failed(&err, &format!("{name}: layer blob {blob}"), subject.clone(), out);
                if err.is_transport() {
                    return OnlineStatus::Unreachable;
                }
            }
        }
    }
    if !missing.is_empty() {
        out.push(cx.finding(
            Code::RegistryBlobGone,
            Warning,
            subject.clone(),
            format!("{name}: manifest {}{} names layer blobs the registry does not serve (HTTP 404): {}", manifest.digest, tags_said(cx), missing.join(", ")),
        ));
        status = OnlineStatus::Mismatch;
    }
    status
}
