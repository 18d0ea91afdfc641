#!/usr/bin/env python3
"""Assemble Keyward's container image as an OCI image layout, with no daemon.

The image is the one the Dockerfile describes: its runtime stage is
`gcr.io/distroless/cc-debian12:nonroot` plus `/keyward`. Base images cannot be
pulled everywhere (nor on the machine this was written on), so the base is
built here from the Debian packages distroless takes it from:

  layer 1 (base): the shared libraries the binary needs (from libc6 and
    libgcc-s1: the loader, libc, libm, libgcc_s), the CA bundle made from the
    ca-certificates package's Mozilla certificates (never the build host's
    /etc/ssl/certs, which may hold local CAs), /etc/passwd and /etc/group
    with root and nonroot (65532), /etc/nsswitch.conf, /tmp, /home/nonroot,
    each package's copyright file and a dpkg status entry per package (under
    /var/lib/dpkg/status.d/, as distroless does, so image scanners see the
    versions). No shell, no package manager.
  layer 2: /keyward.

The image configuration (user, entrypoint, cmd, ports, labels, workdir) is read
from the Dockerfile's last stage, so the two cannot drift: an instruction this
script does not understand, or another base image, is an error.

Everything is deterministic: file times are SOURCE_DATE_EPOCH (default 0),
owners are numeric, gzip carries no time stamp, so the same binary and the
same packages give the same digests.

Usage: assemble.py --binary PATH --debs DIR --dockerfile PATH --out DIR
                   --tag TAG [--revision SHA]
"""

import argparse
import gzip
import hashlib
import io
import json
import os
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

BASE_IMAGE = "gcr.io/distroless/cc-debian12:nonroot"
# What distroless' nonroot variant sets and the Dockerfile inherits from it.
BASE_ENV = [
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
]
BASE_WORKDIR = "/home/nonroot"
BASE_USER = "65532"

# The binary's shared libraries (readelf NEEDED, checked below), by package.
LIBS = {
    "libc6": [
        "lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
        "lib/x86_64-linux-gnu/libc.so.6",
        "lib/x86_64-linux-gnu/libm.so.6",
    ],
    "libgcc-s1": ["lib/x86_64-linux-gnu/libgcc_s.so.1"],
}
# The loader the binary names (PT_INTERP), as the libc6 package links it.
INTERP_LINK = ("lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
# libgcc-s1's /usr/share/doc entry is a link to gcc-12-base's: that package
# carries the copyright.
PACKAGES = ["libc6", "libgcc-s1", "gcc-12-base", "ca-certificates"]

PASSWD = (
    "root:x:0:0:root:/root:/sbin/nologin\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"
    "nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
)
GROUP = "root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n"
NSSWITCH = "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\nnetworks: files\nprotocols: files\nservices: files\n"


def fail(msg):
    sys.exit(f"assemble.py: {msg}")


# --- the Dockerfile's last stage ---------------------------------------------


def dockerfile_runtime(path):
    """The runtime stage's instructions as (KEYWORD, argument text)."""
    lines, cur = [], ""
    with open(path, encoding="utf-8") as f:
        for raw in f:
            s = raw.rstrip("\n")
            if not cur and (s.lstrip().startswith("#") or not s.strip()):
                continue
            if s.lstrip().startswith("#"):
                continue
            if s.endswith("\\"):
                cur += s[:-1] + " "
                continue
            lines.append((cur + s).strip())
            cur = ""
    instrs = [(l.split(None, 1)[0].upper(), l.split(None, 1)[1] if " " in l else "") for l in lines]
    last_from = max(i for i, (k, _) in enumerate(instrs) if k == "FROM")
    return instrs[last_from:]


def image_config(dockerfile):
    cfg = {
        "User": BASE_USER,
        "Env": list(BASE_ENV),
        "WorkingDir": BASE_WORKDIR,
        "ExposedPorts": {},
        "Labels": {},
    }
    history = []
    stage = dockerfile_runtime(dockerfile)
    for kw, arg in stage:
        if kw == "FROM":
            if arg.split()[0] != BASE_IMAGE:
                fail(f"the Dockerfile's runtime stage is FROM {arg}; this script builds {BASE_IMAGE}: update both together")
        elif kw == "LABEL":
            for pair in shlex.split(arg):
                k, _, v = pair.partition("=")
                cfg["Labels"][k] = v
        elif kw == "COPY":
            parts = arg.split()
            if parts[-1] != "/keyward" or not any(p.startswith("--from=") for p in parts):
                fail(f"unexpected COPY in the runtime stage: {arg}")
        elif kw == "USER":
            cfg["User"] = arg.strip()
        elif kw == "EXPOSE":
            for p in arg.split():
                cfg["ExposedPorts"][p if "/" in p else p + "/tcp"] = {}
        elif kw in ("ENTRYPOINT", "CMD"):
            try:
                v = json.loads(arg)
            except json.JSONDecodeError:
                fail(f"{kw} must be in exec (JSON) form: the image has no shell")
            cfg["Entrypoint" if kw == "ENTRYPOINT" else "Cmd"] = v
        elif kw == "WORKDIR":
            cfg["WorkingDir"] = arg.strip()
        elif kw == "ENV":
            k, _, v = arg.partition("=")
            cfg["Env"] = [e for e in cfg["Env"] if not e.startswith(k + "=")] + [f"{k}={v}"]
        else:
            fail(f"the runtime stage has {kw}, which this script does not reproduce: teach it or drop it")
        history.append(f"{kw} {arg}" if kw != "FROM" else f"base: {BASE_IMAGE}, rebuilt from Debian packages")
    for key in ("Entrypoint", "Cmd"):
        if key not in cfg:
            fail(f"the Dockerfile's runtime stage sets no {key.upper()}")
    return cfg, history


# --- Debian packages ----------------------------------------------------------


def deb_path(debs, pkg):
    found = [f for f in os.listdir(debs) if f.startswith(pkg + "_") and f.endswith(".deb")]
    if len(found) != 1:
        fail(f"want exactly one {pkg}_*.deb in {debs}, found {found}")
    return os.path.join(debs, found[0])


def extract(deb, into):
    subprocess.run(["dpkg-deb", "-x", deb, into], check=True)


def control(deb):
    out = subprocess.run(["dpkg-deb", "-f", deb], check=True, capture_output=True, text=True).stdout
    keep = []
    for line in out.splitlines():
        if line.startswith("Package:"):
            keep.append(line)
            keep.append("Status: install ok installed")
        elif line.split(":", 1)[0] in ("Version", "Architecture", "Source", "Maintainer", "Homepage", "Multi-Arch"):
            keep.append(line)
    return "\n".join(keep) + "\n"


def needed(binary):
    out = subprocess.run(["readelf", "-d", binary], check=True, capture_output=True, text=True).stdout
    libs = {l.split("[", 1)[1].split("]", 1)[0] for l in out.splitlines() if "(NEEDED)" in l}
    interp = subprocess.run(["readelf", "-l", binary], check=True, capture_output=True, text=True).stdout
    want = "/" + INTERP_LINK[0]
    if want not in interp:
        fail(f"the binary's loader is not {want}")
    return libs


# --- layers -------------------------------------------------------------------


class Layer:
    def __init__(self, epoch):
        self.epoch = epoch
        self.entries = {}  # path -> (TarInfo, bytes or None)

    def _info(self, path, kind, mode, uid=0, gid=0):
        ti = tarfile.TarInfo(path)
        ti.type, ti.mode, ti.uid, ti.gid, ti.mtime = kind, mode, uid, gid, self.epoch
        ti.uname = ti.gname = ""
        return ti

    def dirs(self, path):
        parts = path.strip("/").split("/")[:-1]
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d not in self.entries:
                self.entries[d] = (self._info(d, tarfile.DIRTYPE, 0o755), None)

    def dir(self, path, mode=0o755, uid=0, gid=0):
        self.dirs(path)
        self.entries[path] = (self._info(path, tarfile.DIRTYPE, mode, uid, gid), None)

    def file(self, path, data, mode=0o644):
        self.dirs(path)
        ti = self._info(path, tarfile.REGTYPE, mode)
        ti.size = len(data)
        self.entries[path] = (ti, data)

    def symlink(self, path, target):
        self.dirs(path)
        ti = self._info(path, tarfile.SYMTYPE, 0o777)
        ti.linkname = target
        self.entries[path] = (ti, None)

    def blobs(self):
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for path in sorted(self.entries):
                ti, data = self.entries[path]
                tar.addfile(ti, io.BytesIO(data) if data is not None else None)
        tar_bytes = raw.getvalue()
        gz = io.BytesIO()
        with gzip.GzipFile(fileobj=gz, mode="wb", mtime=0, compresslevel=9) as g:
            g.write(tar_bytes)
        return tar_bytes, gz.getvalue()


def write_blob(out, data):
    digest = hashlib.sha256(data).hexdigest()
    path = os.path.join(out, "blobs", "sha256", digest)
    with open(path, "wb") as f:
        f.write(data)
    return "sha256:" + digest


def jbytes(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--debs", required=True, help="folder with the .deb of each package in PACKAGES")
    ap.add_argument("--dockerfile", required=True)
    ap.add_argument("--out", required=True, help="OCI image layout to write (replaced)")
    ap.add_argument("--tag", required=True)
    ap.add_argument("--revision", default="")
    a = ap.parse_args()
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))

    cfg, history = image_config(a.dockerfile)
    libs = needed(a.binary)
    have = {os.path.basename(p) for ps in LIBS.values() for p in ps}
    if not libs <= have:
        fail(f"the binary needs {sorted(libs - have)}, which the image does not carry: add them to LIBS")

    base = Layer(epoch)
    versions = {}
    with tempfile.TemporaryDirectory() as tmp:
        for pkg in PACKAGES:
            deb = deb_path(a.debs, pkg)
            root = os.path.join(tmp, pkg)
            extract(deb, root)
            ctl = control(deb)
            versions[pkg] = next(l.split(": ", 1)[1] for l in ctl.splitlines() if l.startswith("Version:"))
            base.file(f"var/lib/dpkg/status.d/{pkg}", ctl.encode())
            cp = os.path.join(root, "usr/share/doc", pkg, "copyright")
            if os.path.isfile(cp) and not os.path.islink(os.path.join(root, "usr/share/doc", pkg)):
                base.file(f"usr/share/doc/{pkg}/copyright", open(cp, "rb").read())
            for rel in LIBS.get(pkg, []):
                src = os.path.join(root, rel)
                while os.path.islink(src):  # libc6 ships some names as links
                    src = os.path.join(os.path.dirname(src), os.readlink(src))
                base.file(rel, open(src, "rb").read(), os.stat(src).st_mode & 0o777)
            if pkg == "ca-certificates":
                moz = os.path.join(root, "usr/share/ca-certificates/mozilla")
                certs = sorted(f for f in os.listdir(moz) if f.endswith(".crt"))
                if len(certs) < 100:
                    fail(f"only {len(certs)} certificates in the ca-certificates package")
                bundle = b"".join(open(os.path.join(moz, c), "rb").read().rstrip(b"\n") + b"\n" for c in certs)
                base.file("etc/ssl/certs/ca-certificates.crt", bundle)
    base.symlink(*INTERP_LINK)
    base.file("etc/passwd", PASSWD.encode())
    base.file("etc/group", GROUP.encode())
    base.file("etc/nsswitch.conf", NSSWITCH.encode())
    base.dir("tmp", 0o1777)
    base.dir("home/nonroot", 0o700, 65532, 65532)
    base.dir("root", 0o700)

    app = Layer(epoch)
    app.file("keyward", open(a.binary, "rb").read(), 0o755)

    if os.path.exists(a.out):
        shutil.rmtree(a.out)
    os.makedirs(os.path.join(a.out, "blobs", "sha256"))
    layers, diff_ids = [], []
    for layer in (base, app):
        tar_bytes, gz_bytes = layer.blobs()
        diff_ids.append("sha256:" + hashlib.sha256(tar_bytes).hexdigest())
        layers.append({
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": write_blob(a.out, gz_bytes),
            "size": len(gz_bytes),
        })
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
    config = {
        "created": created,
        "architecture": "amd64",
        "os": "linux",
        "config": cfg,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": created, "created_by": h, "empty_layer": not h.startswith(("base", "COPY"))} for h in history],
    }
    config_bytes = jbytes(config)
    annotations = {
        "org.opencontainers.image.ref.name": a.tag,
        "org.opencontainers.image.version": a.tag,
        "org.opencontainers.image.created": created,
        "org.opencontainers.image.base.name": BASE_IMAGE + " (rebuilt from: "
        + ", ".join(f"{p} {v}" for p, v in versions.items()) + ")",
    }
    if a.revision:
        annotations["org.opencontainers.image.revision"] = a.revision
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": write_blob(a.out, config_bytes),
            "size": len(config_bytes),
        },
        "layers": layers,
        "annotations": {k: v for k, v in annotations.items() if k != "org.opencontainers.image.ref.name"},
    }
    manifest_bytes = jbytes(manifest)
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": write_blob(a.out, manifest_bytes),
            "size": len(manifest_bytes),
            "platform": {"architecture": "amd64", "os": "linux"},
            "annotations": {"org.opencontainers.image.ref.name": a.tag},
        }],
    }
    with open(os.path.join(a.out, "index.json"), "wb") as f:
        f.write(jbytes(index))
    with open(os.path.join(a.out, "oci-layout"), "wb") as f:
        f.write(jbytes({"imageLayoutVersion": "1.0.0"}))
    size = sum(l["size"] for l in layers) + len(config_bytes) + len(manifest_bytes)
    print(f"{index['manifests'][0]['digest']} {size}")


if __name__ == "__main__":
    main()
