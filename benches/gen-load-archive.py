#!/usr/bin/env python3
"""gen-load-archive.py OUT.tar FIRST COUNT [BASES] - a `docker save`-format archive of COUNT
images (numbers FIRST..FIRST+COUNT-1) for `docker load`, so a real engine writes a big host's
data-root in minutes rather than the hour 10,000 `docker commit`s take.

Image n = base layer (n mod BASES, the same bytes in every archive: 20 small files) + one layer
of its own (/bench/n holding n), a config with two history steps and a creation time of its own,
tagged bench/r<n mod 50>:<n>. Deterministic: the same n always gives the same image ID.
"""
import hashlib, io, json, sys, tarfile

def layer_tar(files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        dirs = sorted({p.rsplit("/", 1)[0] for p in files if "/" in p})
        for d in dirs:
            ti = tarfile.TarInfo(d + "/"); ti.type = tarfile.DIRTYPE; ti.mode = 0o755; ti.mtime = 1700000000
            t.addfile(ti)
        for p, data in sorted(files.items()):
            ti = tarfile.TarInfo(p); ti.size = len(data); ti.mode = 0o644; ti.mtime = 1700000000
            t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()

def main():
    out, first, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    bases = int(sys.argv[4]) if len(sys.argv) > 4 else 50
    base_layers = {}
    manifest = []
    with tarfile.open(out, "w") as arch:
        def add(name, data):
            ti = tarfile.TarInfo(name); ti.size = len(data); ti.mtime = 1700000000
            arch.addfile(ti, io.BytesIO(data))
        for n in range(first, first + count):
            b = n % bases
            if b not in base_layers:
                files = {f"base/{b}/f{j}": f"base {b} file {j}\n".encode() * (j + 1) for j in range(20)}
                data = layer_tar(files)
                d = hashlib.sha256(data).hexdigest()
                add(f"{d}/layer.tar", data)
                base_layers[b] = d
            own = layer_tar({f"bench/{n}": f"{n}\n".encode()})
            od = hashlib.sha256(own).hexdigest()
            add(f"{od}/layer.tar", own)
            secs = 1700000000 + n * 7
            created = f"2023-11-{14 + (secs - 1700000000) // 86400 % 14:02d}T{(secs // 3600) % 24:02d}:{(secs // 60) % 60:02d}:{secs % 60:02d}.{n % 1000:03d}Z"
            cfg = {
                "architecture": "amd64", "os": "linux", "created": created,
                "config": {"Cmd": ["/bin/sh"], "Labels": {"bench.n": str(n)}},
                "rootfs": {"type": "layers", "diff_ids": [f"sha256:{base_layers[b]}", f"sha256:{od}"]},
                "history": [{"created": "2023-11-14T22:13:20Z", "created_by": f"bench base {b}"},
                            {"created": created, "created_by": f"bench image {n}"}],
            }
            cb = json.dumps(cfg, separators=(",", ":")).encode()
            cd = hashlib.sha256(cb).hexdigest()
            add(f"{cd}.json", cb)
            manifest.append({"Config": f"{cd}.json", "RepoTags": [f"bench/r{n % 50}:{n}"],
                             "Layers": [f"{base_layers[b]}/layer.tar", f"{od}/layer.tar"]})
        add("manifest.json", json.dumps(manifest).encode())

main()
