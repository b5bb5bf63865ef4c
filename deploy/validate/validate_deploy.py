#!/usr/bin/env python3
"""Offline validation of DeltaStream's deployment files.

Run by scripts/validate-deploy.sh, which installs the tools. Real validators do
the checking: yamllint, hadolint, `docker compose config` (or the compose-spec
schema), kubernetes-validate, KEDA's CRD models, nats-server -t and promtool.
This file runs them, then makes the few cross-file checks no generic tool can;
each one's docstring names the mistake it catches. No network, no Docker
engine, no cluster. Exits 1 with one FAIL line per problem.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import yaml

K8S_DIR = "deploy/kubernetes"
MAX_LINES = 25  # of one tool's output


class Report:
    def __init__(self) -> None:
        self.failures = 0
        self.oks = 0

    def section(self, title: str) -> None:
        print(f"== {title}")

    def result(self, what: str, errors: list[str]) -> None:
        """One ok line, or one FAIL line per distinct error."""
        if not errors:
            self.oks += 1
            print(f"  ok    {what}")
        for e in dict.fromkeys(errors):
            self.failures += 1
            print("  FAIL  " + e.rstrip().replace("\n", "\n          "))

    def tool(self, what: str, argv: list[str], cwd: Path, env: dict | None = None,
             per_line: bool = False, explain=lambda line: line) -> bool:
        """Runs a validator. On failure its output is the FAIL: one per line for
        tools that print one problem per line, else one block; `explain` rewrites
        a line (e.g. a temporary file's name into what it stands for)."""
        try:
            p = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, timeout=300)
            code, out = p.returncode, p.stdout
        except (OSError, subprocess.TimeoutExpired) as e:
            code, out = 127, f"{argv[0]}: {e}"
        lines = [explain(l) for l in out.splitlines() if l.strip()] or [f"exit status {code}"]
        lines = lines[:MAX_LINES] + ([f"... {len(lines) - MAX_LINES} more lines"] if len(lines) > MAX_LINES else [])
        tag = what.split(": ")[0]
        if code == 0:
            self.result(what, [])
        else:
            self.result(what, [f"{tag}: {l}" for l in lines] if per_line else [f"{tag}: " + "\n".join(lines)])
        return code == 0


def output_of(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, timeout=60).stdout.strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired) as e:
        return f"{argv[0]}: {e}"


class Tree:
    """The deployment files, parsed once."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.compose = yaml.safe_load((root / "docker-compose.yml").read_text()) or {}
        self.kust = yaml.safe_load((root / K8S_DIR / "kustomization.yaml").read_text()) or {}
        self.namespace = self.kust.get("namespace")
        self.k8s: list[tuple[str, dict]] = []
        for rel in self.kust.get("resources") or []:
            if (root / K8S_DIR / rel).is_file():
                with (root / K8S_DIR / rel).open() as f:
                    self.k8s += [(f"{K8S_DIR}/{rel}", d) for d in yaml.safe_load_all(f) if isinstance(d, dict)]
        self.by_kind: dict[str, dict[str, dict]] = {}
        for _, d in self.k8s:
            self.by_kind.setdefault(str(d.get("kind")), {})[str((d.get("metadata") or {}).get("name"))] = d

    def kind(self, kind: str) -> dict[str, dict]:
        return self.by_kind.get(kind, {})

    def services(self) -> dict:
        return self.compose.get("services") or {}

    def env(self, service: str) -> dict[str, str]:
        env = self.services().get(service, {}).get("environment") or {}
        if isinstance(env, list):
            env = dict(str(e).partition("=")[::2] for e in env)
        return {str(k): str(v) for k, v in env.items()}

    def workloads(self):
        """(kind/name, pod template labels, pod spec, volume claim names) of every workload."""
        for kind in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
            for name, d in self.kind(kind).items():
                spec = d.get("spec") or {}
                tpl = spec.get("template") or {}
                claims = {c["metadata"]["name"] for c in spec.get("volumeClaimTemplates") or []}
                yield f"{kind}/{name}", (tpl.get("metadata") or {}).get("labels") or {}, tpl.get("spec") or {}, claims

    def containers(self):
        """(kind/name, container) of every container and init container of every workload."""
        for wl, _, spec, _ in self.workloads():
            for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
                yield wl, c


# ---------------------------------------------------------------------------
# 1. Real validators.

def check_lint(root: Path, rep: Report, a) -> None:
    rep.section("YAML, Dockerfile")
    rep.tool("yamllint --strict .: every YAML file git does not ignore, rules in .yamllint",
             [f"{a.bin}/yamllint", "--strict", "-f", "parsable", "."], root, per_line=True)
    rep.tool(f"hadolint: Dockerfile ({output_of([f'{a.bin}/hadolint', '--version'])})",
             [f"{a.bin}/hadolint", "--no-color", "Dockerfile"], root, per_line=True)


def compose_plugin() -> bool:
    """Whether the docker client has the compose plugin (it answers without an engine)."""
    try:
        return subprocess.run(["docker", "compose", "version"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def check_compose(t: Tree, rep: Report, a) -> None:
    rep.section("docker-compose.yml")
    if compose_plugin():
        # Compose's own loader, offline. The required secret gets a stand-in so
        # that `${DS_JWT_SECRET:?...}` does not stop it; .env is not read.
        env = dict(os.environ, DS_JWT_SECRET=os.environ.get("DS_JWT_SECRET") or "x" * 32,
                   DS_MONGO_APP_PASSWORD=os.environ.get("DS_MONGO_APP_PASSWORD") or "x" * 32)
        rep.tool("docker compose config -q: docker-compose.yml",
                 ["docker", "compose", "--env-file", os.devnull, "-f", "docker-compose.yml", "config", "-q"],
                 t.root, env)
    else:
        rep.tool("check-jsonschema: docker-compose.yml against the compose-spec schema (no compose plugin here)",
                 [f"{a.bin}/check-jsonschema", "--builtin-schema", "vendor.compose-spec", "docker-compose.yml"],
                 t.root)


def check_kubernetes(t: Tree, rep: Report, a) -> None:
    import kubernetes_validate as kv
    from kubernetes_validate.utils import VersionNotSupportedError
    import pydantic
    from cloudcoil.models.keda.v1alpha1 import ScaledObject
    from importlib.metadata import version

    rep.section(f"Kubernetes: {K8S_DIR} (kubernetes-validate {version('kubernetes-validate')})")
    builtin = [(f, d) for f, d in t.k8s if d.get("kind") != "ScaledObject"]
    for k8s in a.k8s_versions:
        errors = []
        for f, d in builtin:
            what = f"{f}: {d.get('kind')}/{(d.get('metadata') or {}).get('name')}"
            try:
                kv.validate(d, k8s, strict=True)
            except kv.ValidationError as e:
                errors.append(f"{what}: {'.'.join(map(str, e.path)) or '<root>'}: {e.message} (Kubernetes {k8s})")
            except kv.SchemaNotFoundError as e:
                errors.append(f"{what}: {e.message} (a typo in apiVersion or kind?)")
            except VersionNotSupportedError:
                errors.append(f"kubernetes-validate has no schemas for Kubernetes {k8s} (DS_K8S_VERSIONS)")
                break
        rep.result(f"kubernetes-validate --strict -k {k8s}: {len(builtin)} resources", errors)
    # KEDA's CRDs are not in kubernetes-validate (it only warns); the models
    # generated from them are, and reject unknown fields as a strict schema does.
    errors = []
    for name, d in t.kind("ScaledObject").items():
        try:
            ScaledObject.model_validate(d, strict=True, extra="forbid")
        except pydantic.ValidationError as e:
            errors += [f"ScaledObject/{name}: {'.'.join(map(str, x['loc']))}: {x['msg']}" for x in e.errors()]
    keda = version("cloudcoil.models.keda").rsplit(".", 1)[0]
    rep.result(f"KEDA {keda} CRD models (cloudcoil), strict: {len(t.kind('ScaledObject'))} ScaledObjects", errors)


def check_nats(t: Tree, rep: Report, a) -> None:
    """Each config as the server loads it. The users (auth.conf) are generated
    per deployment, never committed: the committed example rendered from the
    permission table (nats/auth.example.conf) stands in for them, and a
    throwaway certificate for the Kubernetes TLS Secret."""
    rep.section(f"NATS configs ({output_of([a.nats_server, '--version'])})")
    example = (t.root / "nats/auth.example.conf").read_text()
    rep.tool("nats-server -t: nats/nats-server.conf", [a.nats_server, "-t", "-c", "nats/nats-server.conf"], t.root)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "nats-server.conf").write_text((t.root / "deploy/compose/nats-server.conf").read_text())
        (Path(tmp) / "auth.conf").write_text(example)
        rep.tool("nats-server -t: deploy/compose/nats-server.conf with nats/auth.example.conf as auth.conf",
                 [a.nats_server, "-t", "-c", "nats-server.conf"], Path(tmp))
    conf = ((t.kind("ConfigMap").get("nats-config") or {}).get("data") or {}).get("nats.conf")
    if not conf:
        rep.result("nats-server -t", [f"{K8S_DIR}/nats.yaml: ConfigMap/nats-config has no nats.conf"])
        return
    with tempfile.TemporaryDirectory() as tmp:
        # The pod mounts the ConfigMap at /etc/nats, nats-auth at /etc/nats/auth
        # and nats-tls at /etc/nats/tls: the same layout under tmp.
        (Path(tmp) / "nats.conf").write_text(conf.replace("/etc/nats/", f"{tmp}/"))
        (Path(tmp) / "auth").mkdir()
        (Path(tmp) / "auth/auth.conf").write_text(example)
        tls = Path(tmp) / "tls"
        tls.mkdir()
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=nats", "-keyout", str(tls / "tls.key"), "-out", str(tls / "tls.crt")],
                       check=True, capture_output=True)
        (tls / "ca.crt").write_bytes((tls / "tls.crt").read_bytes())
        # $POD_NAME comes from the downward API in the pod.
        rep.tool("nats-server -t on ConfigMap/nats-config nats.conf (example users, throwaway certificate)",
                 [a.nats_server, "-t", "-c", "nats.conf"], Path(tmp), dict(os.environ, POD_NAME="nats-0"))


def dashboard_exprs(root: Path) -> list[tuple[str, str]]:
    """(where, PromQL) of every panel target of the Grafana dashboards."""
    out = []
    for f in sorted((root / "deploy/grafana/dashboards").glob("*.json")):
        panels = json.loads(f.read_text()).get("panels") or []
        for p in panels + [c for p in panels for c in p.get("panels") or []]:
            out += [(f"{f.name}: panel '{p.get('title')}'", tg["expr"]) for tg in p.get("targets") or [] if tg.get("expr")]
    return out


def check_prometheus(t: Tree, rep: Report, a) -> None:
    rep.section(f"Prometheus, Grafana ({output_of([a.promtool, '--version'])})")
    pdir = t.root / "deploy/prometheus"
    if rep.tool("promtool check config: prometheus.yml and its rule_files (alerts.yml)",
                [a.promtool, "check", "config", "prometheus.yml"], pdir):
        rep.tool("promtool test rules: alerts.test.yml", [a.promtool, "test", "rules", "alerts.test.yml"], pdir)
    # promtool parses the dashboard's PromQL as recording rules, Grafana's
    # variables replaced by values of the right type.
    exprs = dashboard_exprs(t.root)
    subst = {"__rate_interval": "5m", "__interval": "1m", "__range": "1h"}
    rules = [{"record": f"dashboard:{i}", "expr": re.sub(r"\$\{?(\w+)(?::\w+)?\}?",
                                                          lambda m: subst.get(m.group(1), ".*"), e)}
             for i, (_, e) in enumerate(exprs)]
    with tempfile.NamedTemporaryFile("w", suffix=".yml") as f:
        yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, f)
        f.flush()
        rep.tool(f"promtool check rules: the dashboard's {len(rules)} PromQL expressions",
                 [a.promtool, "check", "rules", f.name], t.root,
                 explain=lambda l: re.sub(r'"dashboard:(\d+)"', lambda m: exprs[int(m.group(1))][0], l))


# ---------------------------------------------------------------------------
# 2. Cross-file checks no generic tool makes.

def dockerignore_pattern(p: str) -> re.Pattern:
    """moby/patternmatcher: `**` spans directories, `*` and `?` do not; anchored at the root."""
    p, rx, i = os.path.normpath(p.lstrip("/")), "", 0
    while i < len(p):
        step = next((s for s in ("**/", "**", "*", "?") if p.startswith(s, i)), p[i])
        rx += {"**/": "(.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(step, re.escape(step))
        i += len(step)
    return re.compile(rx + "$")


def dockerignore_keeps_build_inputs(t: Tree) -> list[str]:
    """`docker build` fails when .dockerignore drops a file the crates compile or
    embed: manifests, sources, build scripts, include_str!/include_bytes! targets."""
    rules = [(l, l.startswith("!"), dockerignore_pattern(l.lstrip("!")))
             for l in map(str.strip, (t.root / ".dockerignore").read_text().splitlines()) if l and l[0] != "#"]
    needed = {"Cargo.toml", "Cargo.lock"}
    embed = re.compile(r'include_(?:str|bytes)!\(\s*(?:concat!\(\s*)?"([^"]+)"')
    for m in tomllib.loads((t.root / "Cargo.toml").read_text())["workspace"]["members"]:
        for f in [t.root / m / "Cargo.toml", t.root / m / "build.rs", *(t.root / m).glob("src/**/*.rs")]:
            if f.is_file():
                needed.add(f.relative_to(t.root).as_posix())
                for target in embed.findall(f.read_text()):
                    p = (f.parent / target).resolve()  # a concat! prefix is a directory
                    needed |= {g.relative_to(t.root).as_posix() for g in ([p] if p.is_file() else p.rglob("*"))}
    errors = []
    for rel in sorted(needed):
        prefixes, hit = ["/".join(rel.split("/")[:k]) for k in range(1, rel.count("/") + 2)], None
        for line, negated, rx in rules:  # the last matching rule decides, as in Docker
            if any(rx.match(x) for x in prefixes):
                hit = None if negated else line
        if hit:
            errors.append(f".dockerignore: '{hit}' excludes {rel}, which the build needs")
    return errors


def kustomization_lists_every_file(t: Tree) -> list[str]:
    """A manifest missing from kustomization.yaml is silently not deployed."""
    listed = set(t.kust.get("resources") or [])
    files = {p.name for p in (t.root / K8S_DIR).glob("*.y*ml") if p.name != "kustomization.yaml"}
    return ([f"kustomization.yaml: {f} is not listed in resources" for f in sorted(files - listed)]
            + [f"kustomization.yaml: resource {f} does not exist" for f in sorted(listed - files)])


def pod_references_resolve(t: Tree) -> list[str]:
    """The API server accepts a pod naming a ConfigMap, Secret or key that does not
    exist; the pod then never starts. A $(VAR) not defined before it stays literal."""
    keys = {(k, n): set((d.get("data") or {}) | (d.get("stringData") or {}) | (d.get("binaryData") or {}))
            for k in ("ConfigMap", "Secret") for n, d in t.kind(k).items()}
    errors = []

    def need(where: str, kind: str, name: str, key: str | None = None) -> set:
        if (kind, name) not in keys:
            errors.append(f"{where}: {kind} {name} does not exist")
        elif key is not None and key not in keys[(kind, name)]:
            errors.append(f"{where}: {kind} {name} has no key {key}")
        return keys.get((kind, name), set())

    volumes = {}
    for wl, _, spec, claims in t.workloads():
        volumes[wl] = {v["name"] for v in spec.get("volumes") or []} | claims
        for v in spec.get("volumes") or []:
            if "configMap" in v:
                need(f"{wl} volume {v['name']}", "ConfigMap", v["configMap"]["name"])
            if "secret" in v:
                need(f"{wl} volume {v['name']}", "Secret", v["secret"]["secretName"])
    for wl, c in t.containers():
        where, defined = f"{wl} container {c['name']}", set()
        errors += [f"{where}: volumeMount {m['name']} names no volume"
                   for m in c.get("volumeMounts") or [] if m["name"] not in volumes[wl]]
        for ef in c.get("envFrom") or []:
            for kind, ref in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
                if ref in ef:
                    defined |= need(where, kind, ef[ref]["name"])
        for e in c.get("env") or []:
            vf = e.get("valueFrom") or {}
            for kind, ref in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
                if ref in vf:
                    need(f"{where} env {e['name']}", kind, vf[ref]["name"], vf[ref]["key"])
            errors += [f"{where} env {e['name']}: $({var}) is not defined before it"
                       for var in re.findall(r"(?<!\$)\$\(([A-Za-z_]\w*)\)", str(e.get("value", "")))
                       if var not in defined]
            defined.add(e["name"])
    return errors


def selectors_resolve(t: Tree) -> list[str]:
    """A Service, PDB, Ingress or ScaledObject whose selector or target matches
    nothing is accepted and silently does nothing."""
    pods = [(labels, spec) for _, labels, spec, _ in t.workloads()]

    def selects(selector: dict) -> list[dict]:
        return [spec for labels, spec in pods if selector and all(labels.get(k) == v for k, v in selector.items())]

    errors = []
    for name, s in t.kind("Service").items():
        spec = s.get("spec") or {}
        matched = selects(spec.get("selector") or {})
        ports = {p.get("name") for pod in matched for c in pod.get("containers") or [] for p in c.get("ports") or []}
        if not matched:
            errors.append(f"Service/{name}: selector {spec.get('selector')} matches no pod template")
        errors += [f"Service/{name}: targetPort {p['targetPort']} is no named container port of its pods"
                   for p in spec.get("ports") or [] if isinstance(p.get("targetPort"), str) and p["targetPort"] not in ports]
    for name, p in t.kind("PodDisruptionBudget").items():
        if not selects(((p.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}):
            errors.append(f"PodDisruptionBudget/{name}: selector matches no pod template")
    for name, s in t.kind("StatefulSet").items():
        svc = t.kind("Service").get(s["spec"].get("serviceName")) or {}
        if (svc.get("spec") or {}).get("clusterIP") != "None":
            errors.append(f"StatefulSet/{name}: serviceName {s['spec'].get('serviceName')} is no headless Service")
    for name, ing in t.kind("Ingress").items():
        for rule in (ing.get("spec") or {}).get("rules") or []:
            for path in (rule.get("http") or {}).get("paths") or []:
                b = path["backend"].get("service") or {}
                svc_ports = ((t.kind("Service").get(b.get("name")) or {}).get("spec") or {}).get("ports") or []
                port = b.get("port") or {}
                if not any(port.get("name", port.get("number")) in (p.get("name"), p.get("port")) for p in svc_ports):
                    errors.append(f"Ingress/{name}: backend {b.get('name')} {port} is no Service port")
    for name, so in t.kind("ScaledObject").items():
        ref = (so.get("spec") or {}).get("scaleTargetRef") or {}
        if ref.get("kind", "Deployment") != "Deployment" or ref.get("name") not in t.kind("Deployment"):
            errors.append(f"ScaledObject/{name}: scaleTargetRef {ref.get('name')} is no Deployment here")
    return errors


# Pod Security Standard "restricted", which namespace.yaml enforces: a pod
# without these is rejected at admission, after `kubectl apply` said "created".
RESTRICTED = [  # (security context path, pod-level default applies, test, what it must be)
    ("allowPrivilegeEscalation", False, lambda v: v is False, "false"),
    ("capabilities.drop", False, lambda v: "ALL" in (v or []), "a list containing ALL"),
    ("capabilities.add", False, lambda v: not v, "empty"),
    ("privileged", False, lambda v: not v, "unset or false"),
    ("runAsNonRoot", True, lambda v: v is True, "true"),
    ("seccompProfile.type", True, lambda v: v in ("RuntimeDefault", "Localhost"), "RuntimeDefault"),
]


def restricted_pod_security(t: Tree) -> list[str]:
    """Pods the namespace's "restricted" Pod Security admission would reject."""
    def get(ctx, path: str):
        for k in path.split("."):
            ctx = ctx.get(k) if isinstance(ctx, dict) else None
        return ctx

    pod_ctx = {wl: spec.get("securityContext") or {} for wl, _, spec, _ in t.workloads()}
    errors = []
    for wl, c in t.containers():
        for path, pod_level, ok, want in RESTRICTED:
            v = get(c.get("securityContext") or {}, path)
            if v is None and pod_level:
                v = get(pod_ctx[wl], path)
            if not ok(v):
                errors.append(f"{wl} container {c['name']}: securityContext.{path} must be {want}")
    return errors


def keda_matches_topology(t: Tree) -> list[str]:
    """KEDA scales on a consumer's lag; a stream or consumer name the processors do
    not use reads as no lag, and the Deployment never scales. Consumers as the code
    names them: enrich_g00 ... one per product group on MD_RAW
    (processors/src/enrich/groups.rs and partition.rs) and `project` on
    MD_ENRICHED (processors/src/project/mod.rs)."""
    streams = {json.loads(p.read_text())["name"] for p in (t.root / "nats/streams").glob("*.json")}
    groups = int(re.search(r"pub const GROUPS: u32 = (\d+);", (t.root / "processors/src/enrich/groups.rs").read_text()).group(1))
    consumers = {("MD_RAW", "enrich"): {f"enrich_g{g:02}" for g in range(groups)}, ("MD_ENRICHED", "project"): {"project"}}
    # The scaler asks the consumer leader at <server name>.<endpoint host>: the
    # headless Service, named with the namespace kustomize deploys into.
    endpoint = f"nats-headless.{t.namespace}.svc.cluster.local:8222"
    errors, seen = [], set()
    for name, so in t.kind("ScaledObject").items():
        target = ((so.get("spec") or {}).get("scaleTargetRef") or {}).get("name")
        for trig in (so.get("spec") or {}).get("triggers") or []:
            if trig.get("type") != "nats-jetstream":
                continue  # e.g. the universe-wide lag from Prometheus (metrics_are_exported)
            md = trig.get("metadata") or {}
            seen.add(md.get("consumer"))
            if md.get("stream") not in streams:
                errors.append(f"ScaledObject/{name}: stream {md.get('stream')} is not in nats/streams/")
            elif md.get("consumer") not in consumers.get((md["stream"], target), set()):
                errors.append(f"ScaledObject/{name}: {target} has no consumer {md.get('consumer')} on {md['stream']}")
            if md.get("natsServerMonitoringEndpoint") != endpoint:
                errors.append(f"ScaledObject/{name}: natsServerMonitoringEndpoint should be {endpoint}")
    return errors + [f"{K8S_DIR}/keda.yaml: no trigger for consumer {c}"
                     for c in sorted(set().union(*consumers.values()) - seen)]


def nats_matches_tests(t: Tree) -> list[str]:
    """Compose and Kubernetes run the nats-server version the tests run (pinned in
    scripts/setup.sh); `topology apply --replicas N` needs N servers or it fails."""
    pinned = re.search(r'^nats_version="([^"]+)"', (t.root / "scripts/setup.sh").read_text(), re.M).group(1)
    images = [("docker-compose.yml nats", str(t.services().get("nats", {}).get("image")))]
    images += [(f"{wl} container {c['name']}", c["image"]) for wl, c in t.containers() if c["image"].startswith("nats:")]
    errors = [f"{where}: image {image} is not nats:{pinned}-alpine (scripts/setup.sh pins {pinned})"
              for where, image in images if image != f"nats:{pinned}-alpine"]
    servers = int(((t.kind("StatefulSet").get("nats") or {}).get("spec") or {}).get("replicas", 1))
    topology = [("docker-compose.yml topology", t.services().get("topology", {}).get("command") or [], 1)]
    topology += [(wl, c.get("args") or [], servers) for wl, c in t.containers()
                 if (c.get("args") or [])[:2] == ["topology", "apply"]]
    for where, args, n in topology:
        r = int(args[args.index("--replicas") + 1]) if "--replicas" in args else 1
        if not 1 <= r <= n:
            errors.append(f"{where}: topology apply --replicas {r} with {n} NATS server(s)")
    return errors


def compose_names_resolve(t: Tree) -> list[str]:
    """Hosts, ports and paths that compose, Prometheus and Grafana name must exist
    in the compose project, or the stack starts and scrapes or charts nothing."""
    services, errors = t.services(), []
    binds = {n: [v.split(":")[:2] for v in s.get("volumes") or [] if isinstance(v, str) and v.startswith(".")]
             for n, s in services.items()}
    errors += [f"docker-compose.yml {n}: bind-mount source {src} does not exist"
               for n, vs in binds.items() for src, _ in vs if not (t.root / src).exists()]
    for n in services:
        for k, v in t.env(n).items():
            # A ${VAR:?message} (e.g. a password in a URL) is no host.
            v = re.sub(r"\$\{[^}]*\}", "x", v)
            errors += [f"docker-compose.yml {n}: {k} names host {h}, which is no compose service"
                       for h in re.findall(r"\b[a-z]+://(?:[^@/\s]*@)?([a-z][\w-]*)", v) if h not in services]
    prom = yaml.safe_load((t.root / "deploy/prometheus/prometheus.yml").read_text())
    for job in prom.get("scrape_configs") or []:
        for sd in job.get("dns_sd_configs") or []:
            for n in sd.get("names") or []:
                addr = t.env(n).get("DS_METRICS_ADDR") or t.env(n).get("DS_HTTP_ADDR") or "no port"
                if not addr.endswith(f":{sd.get('port')}"):
                    errors.append(f"prometheus.yml job {job['job_name']}: {n} serves metrics on {addr}, "
                                  f"not on port {sd.get('port')}")
        errors += [f"prometheus.yml job {job['job_name']}: target {x} is no compose service"
                   for sc in job.get("static_configs") or [] for x in sc.get("targets") or []
                   if x.split(":")[0] not in [*services, "localhost"]]
    gdir = t.root / "deploy/grafana/provisioning"
    for ds in yaml.safe_load((gdir / "datasources/prometheus.yml").read_text()).get("datasources") or []:
        host = re.sub(r"^\w+://", "", ds.get("url", "")).split(":")[0]
        if host not in services:
            errors.append(f"grafana datasource {ds.get('name')}: host {host} is no compose service")
    mounted = [dst for src, dst in binds.get("grafana", []) if src.rstrip("/").endswith("deploy/grafana/dashboards")]
    for p in yaml.safe_load((gdir / "dashboards/deltastream.yml").read_text()).get("providers") or []:
        if (p.get("options") or {}).get("path") not in mounted:
            errors.append(f"grafana provider {p.get('name')}: path {(p.get('options') or {}).get('path')} "
                          f"is not where compose mounts deploy/grafana/dashboards {mounted}")
    return errors


def secrets_are_not_literal(t: Tree) -> list[str]:
    """A secret value committed in a manifest is a leaked secret: compose requires
    DS_JWT_SECRET from the environment, Kubernetes takes secrets from a Secret."""
    errors = []
    if not t.env("gateway").get("DS_JWT_SECRET", "").startswith("${DS_JWT_SECRET:?"):
        errors.append("docker-compose.yml gateway: DS_JWT_SECRET must be ${DS_JWT_SECRET:?...} (required, no default)")
    return errors + [f"{wl} container {c['name']}: env {e['name']} holds a literal value; use a secretKeyRef"
                     for wl, c in t.containers() for e in c.get("env") or []
                     if re.search(r"SECRET|PASSWORD|TOKEN", e["name"]) and "value" in e]


GENERIC_LABELS = {"le", "instance", "job", "service", "quantile", "__name__"}  # added by scraping


def metrics_are_exported(t: Tree) -> list[str]:
    """An alert, panel or KEDA Prometheus trigger on a metric or label the code does
    not export never fires, stays empty or never scales; promtool cannot know.
    Names and labels: runtime/src/metrics.rs."""
    src = (t.root / "runtime/src/metrics.rs").read_text()
    code = {m: set(re.findall(r'"(\w+)"', labels))
            for m, labels in re.findall(r'"(deltastream_\w+)",\s*"(?:[^"\\]|\\.)*",?\s*(?:&\[([^\]]*)\])?', src)}
    alerts = [(f"alerts.yml {r['alert']}", r["expr"])
              for g in yaml.safe_load((t.root / "deploy/prometheus/alerts.yml").read_text())["groups"]
              for r in g["rules"] if "alert" in r]
    scalers = [(f"keda.yaml ScaledObject/{name}", trig["metadata"]["query"])
               for name, so in t.kind("ScaledObject").items()
               for trig in (so.get("spec") or {}).get("triggers") or []
               if trig.get("type") == "prometheus"]
    errors = []
    for where, expr in alerts + dashboard_exprs(t.root) + scalers:
        used, labels = set(re.findall(r"\b(deltastream_\w+)", expr)), set(GENERIC_LABELS)
        for m in used:
            base = m if m in code else re.sub(r"_(bucket|sum|count)$", "", m)
            if base not in code:
                errors.append(f"{where}: metric {m} is not registered in runtime/src/metrics.rs")
            labels |= code.get(base, set())
        named = {l.strip() for g in re.findall(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)", expr) for l in g.split(",")}
        named |= set(re.findall(r"[{,]\s*(\w+)\s*(?:=~|!~|!=|=)", expr))
        errors += [f"{where}: label {l} is not a label of {sorted(used)}" for l in sorted(named - labels - {""})]
    return errors


CROSS_CHECKS = [
    (".dockerignore keeps what the build compiles and embeds", dockerignore_keeps_build_inputs),
    ("kustomization.yaml lists every manifest", kustomization_lists_every_file),
    ("pods' ConfigMaps, Secrets, keys, volumes and $(VAR)s exist", pod_references_resolve),
    ("Service, PDB, StatefulSet, Ingress and ScaledObject targets exist", selectors_resolve),
    ("every pod meets the restricted Pod Security Standard the namespace enforces", restricted_pod_security),
    ("KEDA triggers name the streams, consumers and NATS endpoint the deployment has", keda_matches_topology),
    ("nats image is the tested version; topology --replicas fits the NATS servers", nats_matches_tests),
    ("compose hosts, bind mounts, scrape ports and Grafana paths resolve", compose_names_resolve),
    ("no literal secrets in compose or Kubernetes env", secrets_are_not_literal),
    ("alerts, dashboard and KEDA queries use metrics and labels the code exports", metrics_are_exported),
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", required=True, type=Path)
    ap.add_argument("--bin", required=True, help="directory with yamllint, hadolint, check-jsonschema")
    ap.add_argument("--promtool", required=True)
    ap.add_argument("--nats-server", required=True)
    ap.add_argument("--k8s-versions", default="1.28.0,1.37.0")
    a = ap.parse_args()
    a.k8s_versions = [v.strip() for v in a.k8s_versions.split(",") if v.strip()]
    t0, rep, root = time.monotonic(), Report(), a.root.resolve()
    check_lint(root, rep, a)  # first: it says where a file does not parse
    try:
        tree = Tree(root)
    except (OSError, yaml.YAMLError, ValueError) as e:
        rep.result("deployment files parse", [f"cannot parse the deployment files: {e}"])
        tree = None
    # A malformed file can break a check written for well-formed ones: report it, go on.
    guard = (KeyError, TypeError, AttributeError, ValueError, IndexError, OSError)
    for check in (check_compose, check_kubernetes, check_nats, check_prometheus) if tree else ():
        try:
            check(tree, rep, a)
        except guard as e:
            rep.result(check.__name__, [f"{check.__name__}: could not finish ({type(e).__name__}: {e})"])
    if tree:
        rep.section("Cross-file checks")
    for title, fn in CROSS_CHECKS if tree else ():
        try:
            rep.result(title, fn(tree))
        except guard as e:
            rep.result(title, [f"{title}: could not check ({type(e).__name__}: {e}); fix the problems above"])
    dt = time.monotonic() - t0
    if rep.failures:
        print(f"validate-deploy: FAILED: {rep.failures} problem(s), {rep.oks} checks passed ({dt:.1f}s)")
        return 1
    print(f"validate-deploy: OK: {rep.oks} checks passed ({dt:.1f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
