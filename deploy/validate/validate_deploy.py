#!/usr/bin/env python3
"""Offline validation of DeltaStream's deployment artifacts.

Run through scripts/validate-deploy.sh, which provides the tools (a venv with
check-jsonschema, kubernetes-validate and PyYAML; promtool; nats-server). Needs
no network and no Docker engine. Checks:

  Dockerfile / .dockerignore   structure (stages, cache mounts, non-root USER,
                               ENTRYPOINT), build context keeps what the crates embed
  docker-compose.yml           compose-spec JSON schema (after interpolation) and
                               consistency (depends_on, healthchecks, mounts, env)
  deploy/compose/*             nats-server -t; OpenTelemetry collector pipelines
  deploy/kubernetes/           Kubernetes JSON schemas (strict) per resource,
                               KEDA ScaledObjects structurally, cross references
                               (selectors, ports, ConfigMaps/Secrets and keys,
                               probes, PDBs, restricted pod security), NATS config
  deploy/prometheus/           promtool check config, promtool test rules,
                               alert structure; metrics and labels used by alerts
                               and dashboard are registered by the Rust code
  deploy/grafana/              provisioning, dashboard JSON (panels, layout,
                               variables), PromQL of every panel parsed by promtool

Exits 1 with one FAIL line per problem.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import yaml

# ---------------------------------------------------------------------------
# Contract: metric names (runtime/processors/gateway), subcommands, streams.

COUNTERS_GAUGES = {
    "deltastream_messages_processed_total",
    "deltastream_messages_redelivered_total",
    "deltastream_dlq_messages_total",
    "deltastream_consumer_lag",
    "deltastream_consumer_watchdog_restarts_total",
    "deltastream_dlq_size",
    "deltastream_http_requests_total",
    "deltastream_ws_clients",
    "deltastream_ws_messages_sent_total",
    "deltastream_ws_conflated_total",
    "deltastream_ws_dropped_clients_total",
    "deltastream_feed_published_total",
    "deltastream_last_event_timestamp_seconds",
}
HISTOGRAMS = {"deltastream_processing_seconds", "deltastream_http_request_seconds"}
KNOWN_METRICS = COUNTERS_GAUGES | {h + s for h in HISTOGRAMS for s in ("_bucket", "_sum", "_count")}
METRIC_RE = re.compile(r"\b(deltastream_[a-z0-9_]+)\b")

SUBCOMMANDS = {"up", "feed", "enrich", "project", "gateway", "replay", "topology", "dlq", "user", "bench"}
PROCESSORS = ("feed", "enrich", "project")

# Alerts the issue asks for (lag growing, DLQ growing, error rate, no data, ...).
REQUIRED_ALERTS = {
    "DeltaStreamConsumerLagGrowing",
    "DeltaStreamDLQGrowing",
    "DeltaStreamHTTPErrorRate",
    "DeltaStreamNoDataNSE",
    "DeltaStreamNoDataUS",
    "DeltaStreamConsumerWatchdogRestarts",
    "DeltaStreamWebSocketClientsDropped",
}
# Metrics the dashboard must chart.
REQUIRED_DASHBOARD_METRICS = {
    "deltastream_messages_processed_total",
    "deltastream_processing_seconds_bucket",
    "deltastream_consumer_lag",
    "deltastream_dlq_size",
    "deltastream_http_requests_total",
    "deltastream_http_request_seconds_bucket",
    "deltastream_ws_clients",
    "deltastream_last_event_timestamp_seconds",
}

BUILTIN_API_GROUPS = ("v1", "apps/v1", "batch/v1", "policy/v1", "networking.k8s.io/v1",
                      "autoscaling/v2", "rbac.authorization.k8s.io/v1")
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"}


# ---------------------------------------------------------------------------
class Report:
    def __init__(self) -> None:
        self.failures: list[str] = []
        self.oks = 0

    def section(self, title: str) -> None:
        print(f"== {title}")

    def ok(self, what: str) -> None:
        self.oks += 1
        print(f"  ok    {what}")

    def note(self, what: str) -> None:
        print(f"  note  {what}")

    def fail(self, what: str) -> None:
        self.failures.append(what)
        body = "\n".join(l for l in what.splitlines() if l.strip())
        print("  FAIL  " + body.replace("\n", "\n          "))

    def result(self, what: str, errors: list[str], label: str | None = None) -> None:
        """One ok line, or one FAIL line per error (prefixed by label)."""
        if errors:
            head = label or (what.split(":")[0] if ":" in what[:40] else what[:60])
            for e in errors:
                self.fail(f"{head}: {e}")
        else:
            self.ok(what)


def run(cmd: list[str], env: dict | None = None, cwd: Path | None = None) -> tuple[int, str]:
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       env=env, cwd=cwd, timeout=120)
    return p.returncode, p.stdout.strip()


def metric_names(expr: str) -> set[str]:
    return set(METRIC_RE.findall(expr))


def unknown_metrics(expr: str) -> set[str]:
    return {m for m in metric_names(expr) if m not in KNOWN_METRICS}


# Metrics registered by the Rust code: "deltastream_x", "help", &["label", ...].
CODE_METRIC_RE = re.compile(r'"(deltastream_[a-z0-9_]+)"\s*,\s*"(?:[^"\\]|\\.)*"\s*(?:,\s*&\[([^\]]*)\])?')
GENERIC_LABELS = {"le", "instance", "job", "service", "quantile", "__name__"}
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset"}


def code_metrics(root: Path) -> dict[str, set[str]]:
    """Metric name -> label names, as registered in the Rust sources (empty if none found)."""
    found: dict[str, set[str]] = {}
    for crate in ("runtime", "processors", "gateway", "cli"):
        for rs in (root / crate).rglob("*.rs"):
            try:
                src = rs.read_text()
            except (OSError, UnicodeDecodeError):
                continue
            for m in CODE_METRIC_RE.finditer(src):
                labels = set(re.findall(r'"([a-zA-Z_][a-zA-Z0-9_]*)"', m.group(2) or ""))
                found.setdefault(m.group(1), set()).update(labels)
    return found


def check_against_code(expr: str, code: dict[str, set[str]]) -> list[str]:
    """Metrics of `expr` exported by the code, and its label names carried by them."""
    if not code:
        return []
    errs, labels = [], set(GENERIC_LABELS)
    for m in metric_names(expr):
        base = re.sub(r"_(bucket|sum|count)$", "", m) if m not in code else m
        if base not in code:
            errs.append(f"{m} is not registered by the Rust code")
        else:
            labels |= code[base]
    used = set(re.findall(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)", expr))
    names = {l.strip() for group in used for l in group.split(",") if l.strip()}
    names |= set(re.findall(r"[{,]\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)", expr))
    for l in sorted(names - labels - PROMQL_WORDS):
        errs.append(f"label {l} is not a label of {sorted(metric_names(expr))}")
    return errs


def load_yaml_docs(path: Path) -> list:
    with path.open() as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


# ---------------------------------------------------------------------------
# Dockerfile

def dockerfile_instructions(text: str) -> list[tuple[str, str, int]]:
    out, buf, start = [], "", 0
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip()
        stripped = line.strip()
        if not buf and (not stripped or stripped.startswith("#")):
            continue
        if buf and stripped.startswith("#"):
            continue  # comment lines inside a continuation are dropped by Docker
        if not buf:
            start = n
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        instr, _, args = buf.strip().partition(" ")
        out.append((instr.upper(), args.strip(), start))
        buf = ""
    if buf:
        out.append(("<unterminated>", buf, start))
    return out


def check_dockerfile(root: Path, rep: Report) -> None:
    rep.section("Dockerfile")
    path = root / "Dockerfile"
    if not path.is_file():
        rep.fail("Dockerfile: missing")
        return
    text = path.read_text()
    errors: list[str] = []
    ins = dockerfile_instructions(text)
    if not text.startswith("# syntax=docker/dockerfile:1"):
        errors.append("first line should be the BuildKit parser directive '# syntax=docker/dockerfile:1...' (cache mounts)")
    known = {"FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME",
             "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL"}
    for instr, args, line in ins:
        if instr not in known:
            errors.append(f"line {line}: unknown instruction {instr}")

    # Global ARG defaults, for resolving image names.
    args_default: dict[str, str] = {}
    stages: list[dict] = []
    for instr, args, line in ins:
        if instr == "ARG" and not stages:
            k, _, v = args.partition("=")
            args_default[k.strip()] = v.strip().strip('"')
        if instr == "FROM":
            parts = [p for p in args.split() if not p.startswith("--platform")]
            image = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args_default.get(m.group(1) or m.group(2), ""), parts[0])
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else None
            stages.append({"image": image, "name": name, "line": line, "ins": []})
        elif stages:
            stages[-1]["ins"].append((instr, args, line))
    if len(stages) < 2:
        errors.append(f"expected a multi-stage build, found {len(stages)} stage(s)")
        rep.result("Dockerfile structure", errors)
        return
    names = [s["name"] for s in stages]
    builder, final = stages[0], stages[-1]
    if not re.match(r"^rust:[\w.-]*bookworm$", builder["image"]):
        errors.append(f"builder stage should be rust:<version>-bookworm, is {builder['image']}")
    if not (re.match(r"^debian:bookworm-slim$", final["image"]) or final["image"].startswith("gcr.io/distroless/cc")):
        errors.append(f"runtime stage should be debian:bookworm-slim or distroless cc, is {final['image']}")
    for s in stages:
        if s["image"].endswith(":latest") or ":" not in s["image"]:
            errors.append(f"line {s['line']}: image {s['image']} is not pinned to a tag")
    b_runs = " ".join(a for i, a, _ in builder["ins"] if i == "RUN")
    for target in ("/usr/local/cargo/registry", "target"):
        if not re.search(r"--mount=type=cache[^ ]*target=[^ ,]*" + re.escape(target), b_runs):
            errors.append(f"builder RUN lacks a BuildKit cache mount for {target}")
    if not re.search(r"cargo build --release[^&]*-p deltastream", b_runs):
        errors.append("builder does not run `cargo build --release ... -p deltastream`")
    if "--locked" not in b_runs:
        errors.append("cargo build should use --locked (reproducible from Cargo.lock)")

    f_ins = final["ins"]
    users = [a for i, a, _ in f_ins if i == "USER"]
    if not users:
        errors.append("runtime stage has no USER (would run as root)")
    else:
        u = users[-1].split(":")[0]
        if u in ("root", "0"):
            errors.append("runtime stage USER is root")
        elif u != "10001":
            errors.append(f"runtime USER should be uid 10001 (Kubernetes runAsUser), is {u}")
    eps = [a for i, a, _ in f_ins if i == "ENTRYPOINT"]
    if not eps:
        errors.append("runtime stage has no ENTRYPOINT")
    else:
        try:
            ep = json.loads(eps[-1])
            if not (isinstance(ep, list) and ep and os.path.basename(ep[0]) == "deltastream"):
                errors.append(f"ENTRYPOINT should be [\"deltastream\"], is {eps[-1]}")
        except json.JSONDecodeError:
            errors.append("ENTRYPOINT must use the exec (JSON array) form")
    for i, a, line in f_ins:
        if i == "CMD":
            try:
                json.loads(a)
            except json.JSONDecodeError:
                errors.append(f"line {line}: CMD should use the exec (JSON array) form")
    exposed = set(" ".join(a for i, a, _ in f_ins if i == "EXPOSE").split())
    for port in ("8080", "9464"):
        if port not in exposed:
            errors.append(f"runtime stage does not EXPOSE {port}")
    for st in stages:
        for i, a, line in st["ins"]:
            if i in ("COPY", "ADD"):
                m = re.search(r"--from=(\S+)", a)
                if m and m.group(1) not in names[: stages.index(st)]:
                    errors.append(f"line {line}: COPY --from={m.group(1)} is not an earlier stage")
            if i == "ADD" and re.search(r"https?://", a):
                errors.append(f"line {line}: ADD with a URL; download in a RUN with checksum instead")
            if i == "RUN" and "apt-get install" in a:
                if "--no-install-recommends" not in a:
                    errors.append(f"line {line}: apt-get install without --no-install-recommends")
                if "rm -rf /var/lib/apt/lists" not in a:
                    errors.append(f"line {line}: apt lists not removed in the same layer")
    f_copies = [(a, line) for i, a, line in f_ins if i in ("COPY", "ADD")]
    for a, line in f_copies:
        if "--from=" not in a:
            errors.append(f"line {line}: runtime stage copies from the build context; it should carry the binary only")
    if "ca-certificates" not in " ".join(a for i, a, _ in f_ins if i == "RUN") and "distroless" not in final["image"]:
        errors.append("runtime stage does not install ca-certificates (TLS to NATS/MongoDB)")
    rep.result(f"Dockerfile: {len(stages)} stages ({builder['image']} -> {final['image']}), non-root USER, exec ENTRYPOINT, cache mounts", errors)

    # .dockerignore
    errors = []
    di = root / ".dockerignore"
    if not di.is_file():
        rep.fail(".dockerignore: missing")
        return
    patterns = [l.strip() for l in di.read_text().splitlines() if l.strip() and not l.strip().startswith("#")]
    norm = [p.rstrip("/").lstrip("/") for p in patterns if not p.startswith("!")]

    def ignored(rel: str) -> str | None:
        parts = rel.split("/")
        for p in norm:
            for k in range(1, len(parts) + 1):
                if fnmatch.fnmatchcase("/".join(parts[:k]), p) or ("**/" in p and fnmatch.fnmatchcase("/".join(parts[:k]), p.replace("**/", ""))):
                    return p
        return None

    for must in ("target", ".tools", ".deltastream", "node_modules"):
        if ignored(must) is None:
            errors.append(f"does not exclude {must}/")
    cargo = tomllib.loads((root / "Cargo.toml").read_text())
    needed = ["Cargo.toml", "Cargo.lock"] + [f"{m}/Cargo.toml" for m in cargo.get("workspace", {}).get("members", [])]
    # Files the crates embed at compile time (include_str!/include_bytes!/include_dir!/rust-embed).
    embed_re = re.compile(r'include_(?:str|bytes)!\(\s*"([^"]+)"|include_dir!\(\s*"(?:\$CARGO_MANIFEST_DIR/)?([^"]+)"|#\[folder\s*=\s*"([^"]+)"\]')
    for rs in root.rglob("*.rs"):
        rel = rs.relative_to(root).as_posix()
        if rel.split("/")[0] in ("target", ".tools", ".deltastream", "node_modules"):
            continue
        try:
            src = rs.read_text()
        except (UnicodeDecodeError, OSError):
            continue
        crate = next((p for p in rs.parents if (p / "Cargo.toml").is_file()), root)
        for m in embed_re.finditer(src):
            if m.group(1):
                target = (rs.parent / m.group(1)).resolve()
            else:
                target = (crate / (m.group(2) or m.group(3))).resolve()
            try:
                needed.append(target.relative_to(root.resolve()).as_posix())
            except ValueError:
                pass
    for rel in sorted(set(needed)):
        p = ignored(rel)
        if p:
            errors.append(f"pattern '{p}' excludes {rel}, which the build needs")
    rep.result(f".dockerignore: excludes target/.tools/.deltastream/node_modules, keeps {len(set(needed))} files the build needs", errors)


# ---------------------------------------------------------------------------
# docker-compose.yml

INTERP_RE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])((?:[^{}]|\{[^{}]*\})*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")
DURATION_RE = re.compile(r"^(\d+(\.\d+)?(us|ms|s|m|h))+$")


def interpolate(obj, env: dict, required: dict, used: set):
    """Compose variable interpolation with `env` (defaults/required forms)."""
    if isinstance(obj, dict):
        return {interpolate(k, env, required, used): interpolate(v, env, required, used) for k, v in obj.items()}
    if isinstance(obj, list):
        return [interpolate(v, env, required, used) for v in obj]
    if not isinstance(obj, str):
        return obj

    def sub(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1) or m.group(4)
        op, arg = m.group(2), m.group(3) or ""
        used.add(name)
        val = env.get(name)
        if op in ("?", ":?"):
            required[name] = arg
            return val if val else "required-placeholder-value-0123456789abcdef"
        if op == ":-":
            return val if val else arg
        if op == "-":
            return val if val is not None else arg
        if op == ":+":
            return arg if val else ""
        if op == "+":
            return arg if val is not None else ""
        return val or ""

    return INTERP_RE.sub(sub, obj)


def compose_schema():
    from importlib import resources
    ref = resources.files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json")
    return json.loads(ref.read_text())


def env_map(env) -> dict:
    if isinstance(env, dict):
        return {str(k): ("" if v is None else str(v)) for k, v in env.items()}
    out = {}
    for item in env or []:
        k, _, v = str(item).partition("=")
        out[k] = v
    return out


def check_compose(root: Path, rep: Report, tools: dict) -> dict:
    rep.section("docker-compose.yml")
    path = root / "docker-compose.yml"
    if not path.is_file():
        rep.fail("docker-compose.yml: missing")
        return {}
    raw_text = path.read_text()
    try:
        raw = yaml.safe_load(raw_text)
    except yaml.YAMLError as e:
        rep.fail(f"docker-compose.yml: YAML: {e}")
        return {}
    required: dict = {}
    used: set = set()
    doc = interpolate(raw, {}, required, used)

    import jsonschema
    schema = compose_schema()
    cls = jsonschema.validators.validator_for(schema)
    validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
    errs = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    rep.result(f"docker-compose.yml: compose-spec JSON schema (vendored in check-jsonschema {tools['check_jsonschema']})",
               [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errs[:20]])

    errors: list[str] = []
    services: dict = doc.get("services", {}) or {}
    expect = {"nats", "mongo", "topology", "feed", "enrich", "project", "gateway", "otel-collector", "prometheus", "grafana"}
    for s in sorted(expect - set(services)):
        errors.append(f"service {s} missing")
    # depends_on: existence, conditions, cycles
    graph: dict[str, list[str]] = {}
    for name, svc in services.items():
        deps = svc.get("depends_on") or {}
        if isinstance(deps, list):
            deps = {d: {"condition": "service_started"} for d in deps}
        graph[name] = list(deps)
        for dep, spec in deps.items():
            if dep not in services:
                errors.append(f"{name}: depends_on unknown service {dep}")
                continue
            cond = (spec or {}).get("condition", "service_started")
            target = services[dep]
            if cond == "service_healthy":
                hc = target.get("healthcheck")
                if not hc or hc.get("disable") or not hc.get("test"):
                    errors.append(f"{name}: waits for {dep} to be healthy, but {dep} has no healthcheck")
            if cond == "service_completed_successfully" and target.get("restart") in ("always", "unless-stopped"):
                errors.append(f"{name}: waits for {dep} to complete, but {dep} restarts {target.get('restart')}")
    seen: dict[str, int] = {}

    def visit(n: str, stack: list[str]) -> None:
        if seen.get(n) == 1:
            errors.append("depends_on cycle: " + " -> ".join(stack + [n]))
            return
        if seen.get(n) == 2:
            return
        seen[n] = 1
        for d in graph.get(n, []):
            if d in graph:
                visit(d, stack + [n])
        seen[n] = 2

    for n in graph:
        visit(n, [])
    # healthcheck durations
    for name, svc in services.items():
        for k in ("interval", "timeout", "start_period", "start_interval"):
            v = (svc.get("healthcheck") or {}).get(k)
            if v is not None and not DURATION_RE.match(str(v)):
                errors.append(f"{name}: healthcheck {k} '{v}' is not a duration")
        if "stop_grace_period" in svc and not DURATION_RE.match(str(svc["stop_grace_period"])):
            errors.append(f"{name}: stop_grace_period is not a duration")
    # volumes: bind sources exist, named volumes declared
    declared = set((doc.get("volumes") or {}).keys())
    mounts: dict[str, list[tuple[str, str]]] = {}
    for name, svc in services.items():
        for v in svc.get("volumes") or []:
            if isinstance(v, dict):
                src, dst, typ = v.get("source", ""), v.get("target", ""), v.get("type")
            else:
                parts = v.split(":")
                src, dst = parts[0], parts[1] if len(parts) > 1 else parts[0]
                typ = "bind" if src.startswith((".", "/", "~")) else "volume"
            if typ == "bind":
                if not (path.parent / src).exists():
                    errors.append(f"{name}: bind mount source {src} does not exist")
                mounts.setdefault(name, []).append((src, dst))
            elif typ == "volume" and src and src not in declared:
                errors.append(f"{name}: named volume {src} not declared under top-level volumes")
    # DeltaStream services
    ds = {n: s for n, s in services.items() if str(s.get("image", "")).startswith("deltastream") or s.get("build")}
    images = {s.get("image") for s in ds.values()}
    if len(images) != 1:
        errors.append(f"DeltaStream services should share one image, found {sorted(map(str, images))}")
    for n, s in ds.items():
        b = s.get("build")
        if b:
            ctx = b if isinstance(b, str) else b.get("context", ".")
            dockerfile = "Dockerfile" if isinstance(b, str) else b.get("dockerfile", "Dockerfile")
            if not (path.parent / ctx / dockerfile).is_file():
                errors.append(f"{n}: build context {ctx} has no {dockerfile}")
        cmd = s.get("command")
        if isinstance(cmd, str):
            cmd = shlex.split(cmd)
        if not cmd or cmd[0] not in SUBCOMMANDS:
            errors.append(f"{n}: command {cmd} does not start with a deltastream subcommand")
            continue
        env = env_map(s.get("environment"))
        nats_url = env.get("DS_NATS_URL", "")
        for u in filter(None, nats_url.split(",")):
            host = re.sub(r"^nats://", "", u).split(":")[0]
            if host not in services:
                errors.append(f"{n}: DS_NATS_URL host {host} is not a compose service")
        if cmd[0] in ("feed", "enrich", "project", "gateway"):
            if not s.get("healthcheck"):
                errors.append(f"{n}: long-running service without healthcheck")
            mongo = env.get("DS_MONGO_URL", "")
            mhost = re.sub(r"^mongodb://([^@]*@)?", "", mongo).split("/")[0].split(":")[0]
            if mhost not in services:
                errors.append(f"{n}: DS_MONGO_URL host '{mhost}' is not a compose service")
            ep = env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "")
            if ep and re.sub(r"^https?://", "", ep).split(":")[0] not in services:
                errors.append(f"{n}: OTEL_EXPORTER_OTLP_ENDPOINT host is not a compose service")
            if s.get("read_only") is not True:
                errors.append(f"{n}: should run with read_only: true")
        if cmd[0] in PROCESSORS and not env.get("DS_METRICS_ADDR", "").startswith("0.0.0.0:"):
            errors.append(f"{n}: DS_METRICS_ADDR should listen on 0.0.0.0 inside the container")
        if cmd[0] == "gateway":
            if env.get("DS_HTTP_ADDR") != "0.0.0.0:8080":
                errors.append(f"{n}: DS_HTTP_ADDR should be 0.0.0.0:8080")
            if not any(str(p).endswith(":8080") or (isinstance(p, dict) and p.get("target") == 8080) for p in s.get("ports") or []):
                errors.append(f"{n}: gateway port 8080 is not published")
            if "DS_JWT_SECRET" not in env:
                errors.append(f"{n}: DS_JWT_SECRET not set")
        if cmd[:2] == ["topology", "apply"] and (s.get("depends_on") or {}).get("nats", {}).get("condition") != "service_healthy":
            errors.append(f"{n}: topology apply should wait for nats to be healthy")
    if "DS_JWT_SECRET" not in required:
        errors.append("DS_JWT_SECRET must be required with ${DS_JWT_SECRET:?...} (no default secret)")
    if re.search(r"^\s*-?\s*DS_JWT_SECRET\s*[:=]\s*['\"]?(?!\$)\S", raw_text, re.M):
        errors.append("a literal DS_JWT_SECRET value is committed in docker-compose.yml")
    enrich_rep = ((services.get("enrich") or {}).get("deploy") or {}).get("replicas", 1)
    if not isinstance(enrich_rep, int) or enrich_rep < 2:
        errors.append("enrich should run 2+ replicas (deploy.replicas)")
    if not str((services.get("nats") or {}).get("image", "")).startswith("nats:2.14"):
        errors.append("nats should use the official nats:2.14 image (the version scripts/setup.sh installs)")
    if not str((services.get("mongo") or {}).get("image", "")).startswith("mongo:6.0"):
        errors.append("mongo should use mongo:6.0")
    rep.result(f"docker-compose.yml: {len(services)} services, depends_on/healthchecks, mounts, env, required DS_JWT_SECRET", errors)
    return {"doc": doc, "mounts": mounts, "services": services}


# ---------------------------------------------------------------------------
# NATS server configs

def nats_test(nats_server: str, conf: Path, env_extra: dict | None = None) -> str | None:
    env = dict(os.environ, **(env_extra or {}))
    code, out = run([nats_server, "-t", "-c", str(conf)], env=env)
    return None if code == 0 else out


def check_nats_configs(root: Path, rep: Report, tools: dict, compose: dict) -> None:
    rep.section("NATS server configuration")
    ns = tools["nats_server"]
    for rel in ("nats/nats-server.conf", "deploy/compose/nats-server.conf"):
        p = root / rel
        if not p.is_file():
            rep.fail(f"{rel}: missing")
            continue
        err = nats_test(ns, p)
        errors = [err] if err else []
        if rel.startswith("deploy/"):
            txt = p.read_text()
            if not re.search(r"^\s*listen:\s*0\.0\.0\.0:4222", txt, re.M):
                errors.append("should listen on 0.0.0.0:4222 inside the container")
            if not re.search(r"^\s*http:\s*0\.0\.0\.0:8222", txt, re.M):
                errors.append("monitoring should listen on 0.0.0.0:8222 (healthcheck)")
            if "jetstream" not in txt:
                errors.append("JetStream not enabled")
            mounted = [dst for src, dst in compose.get("mounts", {}).get("nats", []) if src.endswith(rel.split("/", 1)[1]) or src.endswith(rel)]
            cmd = " ".join(map(str, (compose.get("services", {}).get("nats") or {}).get("command") or []))
            if not mounted or mounted[0] not in cmd:
                errors.append("not mounted into the nats service at the path its command loads")
        rep.result(f"{rel}: nats-server -t ({tools['nats_version']})", errors)


# ---------------------------------------------------------------------------
# OpenTelemetry collector

def check_otel(root: Path, rep: Report, compose: dict) -> None:
    rep.section("OpenTelemetry collector")
    rel = "deploy/compose/otel-collector.yaml"
    p = root / rel
    if not p.is_file():
        rep.fail(f"{rel}: missing")
        return
    errors: list[str] = []
    try:
        cfg = yaml.safe_load(p.read_text())
    except yaml.YAMLError as e:
        rep.fail(f"{rel}: YAML: {e}")
        return
    sections = {k: set((cfg.get(k) or {}).keys()) for k in ("receivers", "processors", "exporters", "connectors", "extensions")}
    svc = cfg.get("service") or {}
    for ext in svc.get("extensions") or []:
        if ext not in sections["extensions"]:
            errors.append(f"service.extensions: {ext} not defined")
    pipes = svc.get("pipelines") or {}
    if "traces" not in pipes:
        errors.append("no traces pipeline")
    conn_as_exp, conn_as_rec = set(), set()
    for pname, pipe in pipes.items():
        for role, sect in (("receivers", "receivers"), ("processors", "processors"), ("exporters", "exporters")):
            for c in pipe.get(role) or []:
                if c in sections[sect]:
                    continue
                if c in sections["connectors"] and role in ("receivers", "exporters"):
                    (conn_as_rec if role == "receivers" else conn_as_exp).add(c)
                    continue
                errors.append(f"pipeline {pname}: {role[:-1]} {c} not defined")
        if not pipe.get("receivers") or not pipe.get("exporters"):
            errors.append(f"pipeline {pname}: needs receivers and exporters")
    for c in sections["connectors"]:
        if c not in conn_as_exp or c not in conn_as_rec:
            errors.append(f"connector {c} must be an exporter in one pipeline and a receiver in another")
    grpc = (((cfg.get("receivers") or {}).get("otlp") or {}).get("protocols") or {}).get("grpc") or {}
    if not str(grpc.get("endpoint", "")).endswith(":4317"):
        errors.append("otlp grpc receiver should listen on :4317")
    if "debug" not in sections["exporters"]:
        errors.append("no debug exporter")
    prom = (cfg.get("exporters") or {}).get("prometheus")
    if not prom:
        errors.append("no prometheus exporter")
    services = compose.get("services", {})
    oc = services.get("otel-collector") or {}
    if oc and not any(dst.endswith("config.yaml") for _, dst in compose.get("mounts", {}).get("otel-collector", [])):
        errors.append("otel-collector service does not mount this config")
    for n, s in services.items():
        ep = env_map(s.get("environment")).get("OTEL_EXPORTER_OTLP_ENDPOINT")
        if ep and not ep.endswith(":4317") and not ep.endswith(":4318"):
            errors.append(f"compose {n}: OTEL_EXPORTER_OTLP_ENDPOINT {ep} is not the collector's OTLP port")
    rep.result(f"{rel}: pipelines reference defined components, OTLP :4317, debug + prometheus exporters", errors)


# ---------------------------------------------------------------------------
# Kubernetes

class K8sValidator:
    """kubernetes-validate's bundled schemas, loaded once per kind, all errors reported."""

    def __init__(self, version: str, strict: bool = True):
        from kubernetes_validate import utils as kv
        import jsonschema
        from referencing import Registry, Resource
        self.kv, self.jsonschema, self.Registry, self.Resource = kv, jsonschema, Registry, Resource
        self.version = [v for v in kv.all_versions() if kv.major_minor(v) <= kv.major_minor(version)][-1]
        self.dir = f"kubernetes-json-schema/v{self.version}-local" + ("-strict" if strict else "")
        self.defs = None
        self.cache: dict = {}

    def validate(self, doc: dict) -> list[str] | None:
        """None when no schema exists for the kind (a CRD)."""
        api = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", doc["apiVersion"])
        key = (doc["kind"].lower(), api)
        if key not in self.cache:
            try:
                schema = self.kv.schema_contents(f"{self.dir}/{key[0]}-{key[1]}.json", self.version)
            except FileNotFoundError:
                self.cache[key] = None
                return None
            if self.defs is None:
                self.defs = self.Resource.from_contents(self.kv.schema_contents(f"{self.dir}/_definitions.json", self.version))
            registry = self.Resource.from_contents(schema) @ (self.defs @ self.Registry())
            self.cache[key] = self.jsonschema.validators.Draft202012Validator(schema, registry=registry)
        v = self.cache[key]
        if v is None:
            return None
        return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in
                sorted(v.iter_errors(doc), key=lambda e: list(e.absolute_path))]


def pod_spec_of(doc: dict) -> dict | None:
    k = doc.get("kind")
    spec = doc.get("spec") or {}
    if k in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        return (spec.get("template") or {}).get("spec")
    if k == "CronJob":
        return (((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}).get("spec")
    return None


def template_labels(doc: dict) -> dict:
    return (((doc.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}


def selects(selector: dict, labels: dict) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def check_kubernetes(root: Path, rep: Report, tools: dict) -> None:
    rep.section("Kubernetes manifests (deploy/kubernetes)")
    kdir = root / "deploy/kubernetes"
    kpath = kdir / "kustomization.yaml"
    if not kpath.is_file():
        rep.fail("deploy/kubernetes/kustomization.yaml: missing")
        return
    kust = yaml.safe_load(kpath.read_text()) or {}
    errors: list[str] = []
    if kust.get("kind") != "Kustomization" or not str(kust.get("apiVersion", "")).startswith("kustomize.config.k8s.io/"):
        errors.append("not a kustomize.config.k8s.io Kustomization")
    allowed = {"apiVersion", "kind", "metadata", "namespace", "namePrefix", "nameSuffix", "labels", "commonLabels",
               "commonAnnotations", "resources", "components", "images", "replicas", "patches", "configMapGenerator",
               "secretGenerator", "generatorOptions", "buildMetadata", "openapi", "crds", "helmCharts", "transformers",
               "generators", "validators", "sortOptions"}
    for k in kust:
        if k not in allowed:
            errors.append(f"unknown field {k}")
    for lab in kust.get("labels") or []:
        for k in lab:
            if k not in ("pairs", "includeSelectors", "includeTemplates", "fields"):
                errors.append(f"labels: unknown field {k}")
        if lab.get("includeSelectors"):
            errors.append("labels: includeSelectors true would change immutable Deployment/StatefulSet selectors")
    for img in kust.get("images") or []:
        for k in img:
            if k not in ("name", "newName", "newTag", "digest", "tagSuffix"):
                errors.append(f"images: unknown field {k}")
    namespace = kust.get("namespace")
    if namespace != "deltastream":
        errors.append(f"namespace should be deltastream, is {namespace}")
    resources = kust.get("resources") or []
    files = sorted(p.relative_to(kdir).as_posix() for p in kdir.rglob("*") if p.suffix in (".yaml", ".yml") and p.name != "kustomization.yaml")
    for r in resources:
        if not (kdir / r).is_file():
            errors.append(f"resource {r} does not exist")
    for f in files:
        if f not in resources:
            errors.append(f"{f} is not listed in resources (dead file or forgotten)")
    image_names = {i.get("name") for i in kust.get("images") or []}
    rep.result(f"kustomization.yaml: namespace {namespace}, {len(resources)} resources, every file listed", errors)

    docs: list[tuple[str, dict]] = []
    parse_errors = []
    for r in resources:
        p = kdir / r
        if not p.is_file():
            continue
        try:
            for d in load_yaml_docs(p):
                docs.append((r, d))
        except yaml.YAMLError as e:
            parse_errors.append(f"{r}: YAML: {e}")
    rep.result(f"YAML parses ({len(docs)} resources)", parse_errors)

    # Schema validation per resource, per Kubernetes version.
    crds = []
    by_kind: dict[str, dict[str, dict]] = {}
    dup = []
    for f, d in docs:
        if not isinstance(d, dict) or not d.get("kind") or not d.get("apiVersion") or not (d.get("metadata") or {}).get("name"):
            dup.append(f"{f}: document without apiVersion/kind/metadata.name")
            continue
        name = d["metadata"]["name"]
        if name in by_kind.setdefault(d["kind"], {}):
            dup.append(f"{f}: duplicate {d['kind']}/{name}")
        by_kind[d["kind"]][name] = d
        ns = d["metadata"].get("namespace")
        if ns and ns != namespace:
            dup.append(f"{f}: {d['kind']}/{name} pins namespace {ns}")
    for version in tools["k8s_versions"]:
        val = K8sValidator(version, strict=True)
        errors = []
        n = 0
        for f, d in docs:
            if not isinstance(d, dict) or not d.get("kind") or not d.get("apiVersion") or not (d.get("metadata") or {}).get("name"):
                continue
            # kustomize sets metadata.namespace; validate what will be applied.
            d2 = json.loads(json.dumps(d))
            if d2["kind"] != "Namespace":
                d2.setdefault("metadata", {})["namespace"] = namespace
            res = val.validate(d2)
            if res is None:
                if d["apiVersion"].split("/")[0] in ("v1",) or d["apiVersion"] in BUILTIN_API_GROUPS:
                    errors.append(f"{f}: {d['kind']} {d['apiVersion']}: no schema in Kubernetes {val.version}")
                elif version == tools["k8s_versions"][0]:
                    crds.append((f, d))
                continue
            n += 1
            errors += [f"{f}: {d['kind']}/{d['metadata']['name']}: {e}" for e in res[:10]]
        rep.result(f"{n} resources valid against Kubernetes {val.version} strict schemas (kubernetes-validate {tools['kubernetes_validate']})",
                   errors, label=f"kubernetes {val.version} schema")
    rep.result("every resource has apiVersion/kind/name; unique names, no foreign namespaces", dup, label="resources")

    configmaps = by_kind.get("ConfigMap", {})
    secrets = by_kind.get("Secret", {})
    services = by_kind.get("Service", {})
    workloads = {(k, n): d for k in WORKLOAD_KINDS for n, d in by_kind.get(k, {}).items()}

    def cm_keys(name: str) -> set | None:
        c = configmaps.get(name)
        return None if c is None else set((c.get("data") or {}).keys()) | set((c.get("binaryData") or {}).keys())

    def secret_keys(name: str) -> set | None:
        s = secrets.get(name)
        return None if s is None else set((s.get("data") or {}).keys()) | set((s.get("stringData") or {}).keys())

    # Pods: references, probes, resources, security.
    errors, sec_errors = [], []
    for (kind, name), d in sorted(workloads.items()):
        spec = pod_spec_of(d) or {}
        where = f"{kind}/{name}"
        long_running = kind in ("Deployment", "StatefulSet", "DaemonSet")
        psc = spec.get("securityContext") or {}
        if spec.get("hostNetwork") or spec.get("hostPID") or spec.get("hostIPC"):
            sec_errors.append(f"{where}: uses host namespaces")
        if (psc.get("seccompProfile") or {}).get("type") not in ("RuntimeDefault", "Localhost"):
            sec_errors.append(f"{where}: pod seccompProfile should be RuntimeDefault")
        if spec.get("automountServiceAccountToken") is not False:
            sec_errors.append(f"{where}: automountServiceAccountToken should be false (no API access needed)")
        vols = {v["name"]: v for v in spec.get("volumes") or []}
        for v in vols.values():
            if "hostPath" in v:
                sec_errors.append(f"{where}: hostPath volume {v['name']}")
            if "configMap" in v and cm_keys(v["configMap"]["name"]) is None:
                errors.append(f"{where}: volume {v['name']} references missing ConfigMap {v['configMap']['name']}")
            if "secret" in v and secret_keys(v["secret"]["secretName"]) is None:
                errors.append(f"{where}: volume {v['name']} references missing Secret {v['secret']['secretName']}")
        claim_names = {c["metadata"]["name"] for c in (d.get("spec") or {}).get("volumeClaimTemplates") or []}
        containers = [("container", c) for c in spec.get("containers") or []] + [("initContainer", c) for c in spec.get("initContainers") or []]
        for role, c in containers:
            cw = f"{where} {role} {c.get('name')}"
            csc = c.get("securityContext") or {}
            if csc.get("allowPrivilegeEscalation") is not False:
                sec_errors.append(f"{cw}: allowPrivilegeEscalation should be false")
            if "ALL" not in ((csc.get("capabilities") or {}).get("drop") or []):
                sec_errors.append(f"{cw}: capabilities should drop ALL")
            if (csc.get("capabilities") or {}).get("add"):
                sec_errors.append(f"{cw}: adds capabilities")
            if csc.get("readOnlyRootFilesystem") is not True:
                sec_errors.append(f"{cw}: readOnlyRootFilesystem should be true")
            if not (csc.get("runAsNonRoot") or psc.get("runAsNonRoot")):
                sec_errors.append(f"{cw}: runAsNonRoot not set")
            uid = csc.get("runAsUser", psc.get("runAsUser"))
            if uid == 0:
                sec_errors.append(f"{cw}: runs as uid 0")
            if csc.get("privileged"):
                sec_errors.append(f"{cw}: privileged")
            res = c.get("resources") or {}
            for k in ("requests", "limits"):
                for r in ("cpu", "memory"):
                    if r not in (res.get(k) or {}):
                        errors.append(f"{cw}: resources.{k}.{r} missing")
            image = str(c.get("image", ""))
            if ":" not in image.split("/")[-1] or image.endswith(":latest"):
                errors.append(f"{cw}: image {image} is not pinned to a tag")
            ports = {p.get("name"): p.get("containerPort") for p in c.get("ports") or []}
            if role == "container" and long_running:
                for probe in ("livenessProbe", "readinessProbe"):
                    if probe not in c:
                        errors.append(f"{cw}: {probe} missing")
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                pr = c.get(probe) or {}
                hg = pr.get("httpGet")
                if hg:
                    port = hg.get("port")
                    if isinstance(port, str) and port not in ports:
                        errors.append(f"{cw}: {probe} port {port} is not a declared container port")
            is_ds = image.split(":")[0].split("/")[-1] == "deltastream"
            if is_ds:
                if image.split(":")[0] not in image_names and image.split(":")[0].split("/")[-1] not in image_names:
                    errors.append(f"{cw}: image {image} not covered by kustomization images")
                args = c.get("args") or c.get("command") or []
                if not args or args[0] not in SUBCOMMANDS:
                    errors.append(f"{cw}: args {args} do not start with a deltastream subcommand")
                if role == "container" and long_running:
                    paths = {(c.get(p) or {}).get("httpGet", {}).get("path") for p in ("livenessProbe", "readinessProbe")}
                    if paths != {"/health/live", "/health/ready"}:
                        errors.append(f"{cw}: probes should be /health/live (liveness) and /health/ready (readiness), are {sorted(map(str, paths))}")
                    if (c.get("readinessProbe") or {}).get("httpGet", {}).get("path") != "/health/ready":
                        errors.append(f"{cw}: readinessProbe should be /health/ready")
                    ann = ((d["spec"]["template"].get("metadata") or {}).get("annotations") or {})
                    if ann.get("prometheus.io/scrape") != "true" or int(ann.get("prometheus.io/port", 0)) not in ports.values():
                        errors.append(f"{cw}: prometheus.io/scrape and prometheus.io/port (a container port) annotations expected")
            for m in c.get("volumeMounts") or []:
                if m["name"] not in vols and m["name"] not in claim_names:
                    errors.append(f"{cw}: volumeMount {m['name']} has no volume")
            # env references
            defined: set[str] = set()
            for ef in c.get("envFrom") or []:
                if "configMapRef" in ef:
                    keys = cm_keys(ef["configMapRef"]["name"])
                    if keys is None:
                        errors.append(f"{cw}: envFrom ConfigMap {ef['configMapRef']['name']} missing")
                    else:
                        defined |= keys
                if "secretRef" in ef:
                    keys = secret_keys(ef["secretRef"]["name"])
                    if keys is None:
                        errors.append(f"{cw}: envFrom Secret {ef['secretRef']['name']} missing")
                    else:
                        defined |= keys
            for e in c.get("env") or []:
                vf = e.get("valueFrom") or {}
                if "configMapKeyRef" in vf:
                    r = vf["configMapKeyRef"]
                    keys = cm_keys(r["name"])
                    if keys is None or r["key"] not in keys:
                        errors.append(f"{cw}: env {e['name']}: ConfigMap {r['name']} key {r['key']} missing")
                if "secretKeyRef" in vf:
                    r = vf["secretKeyRef"]
                    keys = secret_keys(r["name"])
                    if keys is None or r["key"] not in keys:
                        errors.append(f"{cw}: env {e['name']}: Secret {r['name']} key {r['key']} missing")
                for ref in re.findall(r"(?<!\$)\$\(([A-Za-z_][A-Za-z0-9_]*)\)", str(e.get("value", ""))):
                    if ref not in defined:
                        errors.append(f"{cw}: env {e['name']} references $({ref}) which is not defined before it")
                defined.add(e["name"])
            if is_ds and c.get("args", [""])[0] in ("feed", "enrich", "project", "gateway"):
                for need in ("DS_NATS_URL", "DS_MONGO_URL"):
                    if need not in defined:
                        errors.append(f"{cw}: {need} not set")
                if c["args"][0] == "gateway" and "DS_JWT_SECRET" not in defined:
                    errors.append(f"{cw}: DS_JWT_SECRET not set")
                if c["args"][0] == "gateway":
                    for e in c.get("env") or []:
                        if e["name"] == "DS_JWT_SECRET" and "secretKeyRef" not in (e.get("valueFrom") or {}):
                            errors.append(f"{cw}: DS_JWT_SECRET must come from a Secret")
        if kind in ("Deployment", "StatefulSet"):
            sel = ((d.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
            if not selects(sel, template_labels(d)):
                errors.append(f"{where}: selector does not match the pod template labels")
        if kind == "StatefulSet":
            svc = services.get(d["spec"].get("serviceName"))
            if not svc or (svc.get("spec") or {}).get("clusterIP") != "None":
                errors.append(f"{where}: serviceName {d['spec'].get('serviceName')} is not a headless Service")
    rep.result("pod specs: ConfigMap/Secret/key references, $(VAR) expansion, probes on declared ports, /health/* probes, resources, pinned images",
               errors, label="pod specs")
    rep.result("pod security: runAsNonRoot, readOnlyRootFilesystem, drop ALL, no privilege escalation, seccomp RuntimeDefault", sec_errors)

    # Services, PDBs, Ingress.
    errors = []
    for name, s in services.items():
        sel = (s.get("spec") or {}).get("selector") or {}
        matched = [d for d in workloads.values() if selects(sel, template_labels(d))]
        if not matched:
            errors.append(f"Service/{name}: selector {sel} matches no workload")
            continue
        cports = {p.get("name"): p.get("containerPort") for d in matched for c in (pod_spec_of(d) or {}).get("containers", []) for p in c.get("ports") or []}
        for p in (s.get("spec") or {}).get("ports") or []:
            tp = p.get("targetPort", p.get("port"))
            if isinstance(tp, str) and tp not in cports:
                errors.append(f"Service/{name}: targetPort {tp} is not a container port of the selected pods")
            if isinstance(tp, int) and tp not in cports.values():
                errors.append(f"Service/{name}: targetPort {tp} is not a container port of the selected pods")
    for name, p in by_kind.get("PodDisruptionBudget", {}).items():
        sel = ((p.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        matched = [d for (k, _), d in workloads.items() if k in ("Deployment", "StatefulSet") and selects(sel, template_labels(d))]
        if not matched:
            errors.append(f"PodDisruptionBudget/{name}: selects no Deployment/StatefulSet")
            continue
        replicas = min(int((d.get("spec") or {}).get("replicas", 1)) for d in matched)
        ma = (p.get("spec") or {}).get("minAvailable")
        if isinstance(ma, int) and ma >= replicas:
            errors.append(f"PodDisruptionBudget/{name}: minAvailable {ma} >= replicas {replicas} blocks every voluntary eviction")
    for name in ("nats", "mongo"):
        pdb = by_kind.get("PodDisruptionBudget", {}).get(name)
        if not pdb or (pdb.get("spec") or {}).get("minAvailable") != 2:
            errors.append(f"PodDisruptionBudget/{name}: minAvailable 2 expected (quorum of 3)")
    for name in ("enrich", "project", "gateway"):
        if name not in by_kind.get("PodDisruptionBudget", {}):
            errors.append(f"PodDisruptionBudget/{name}: missing")
    ingresses = by_kind.get("Ingress", {})
    if not ingresses:
        errors.append("no Ingress for the gateway")
    for name, ing in ingresses.items():
        ann = (ing.get("metadata") or {}).get("annotations") or {}
        for k in ("nginx.ingress.kubernetes.io/proxy-read-timeout", "nginx.ingress.kubernetes.io/proxy-send-timeout"):
            if int(str(ann.get(k, "0")).rstrip("s") or 0) < 3600:
                errors.append(f"Ingress/{name}: {k} should be >= 3600 (WebSocket)")
        if "nginx.org/websocket-services" not in ann:
            errors.append(f"Ingress/{name}: nginx.org/websocket-services annotation missing")
        for rule in (ing.get("spec") or {}).get("rules") or []:
            for path in ((rule.get("http") or {}).get("paths")) or []:
                b = (path.get("backend") or {}).get("service") or {}
                svc = services.get(b.get("name"))
                if not svc:
                    errors.append(f"Ingress/{name}: backend Service {b.get('name')} missing")
                    continue
                port = b.get("port") or {}
                sports = (svc.get("spec") or {}).get("ports") or []
                if "name" in port and port["name"] not in {p.get("name") for p in sports}:
                    errors.append(f"Ingress/{name}: Service {b.get('name')} has no port named {port['name']}")
                if "number" in port and port["number"] not in {p.get("port") for p in sports}:
                    errors.append(f"Ingress/{name}: Service {b.get('name')} has no port {port['number']}")
    rep.result("Services select pods and target declared ports; PDBs select workloads and allow evictions; Ingress backends and WebSocket timeouts",
               errors, label="services/PDBs/ingress")

    # NATS cluster, MongoDB replica set, topology Job.
    errors = []
    nats = by_kind.get("StatefulSet", {}).get("nats")
    nats_replicas = 0
    if not nats:
        errors.append("StatefulSet/nats missing")
    else:
        nats_replicas = int(nats["spec"].get("replicas", 1))
        if nats_replicas != 3:
            errors.append(f"StatefulSet/nats: 3 replicas expected, has {nats_replicas}")
        if nats["spec"].get("podManagementPolicy") != "Parallel":
            errors.append("StatefulSet/nats: podManagementPolicy Parallel expected (JetStream needs a quorum to become ready)")
        headless = services.get(nats["spec"].get("serviceName")) or {}
        if not (headless.get("spec") or {}).get("publishNotReadyAddresses"):
            errors.append("nats headless Service should publishNotReadyAddresses (routes before readiness)")
        aff = ((pod_spec_of(nats) or {}).get("affinity") or {}).get("podAntiAffinity")
        if not aff:
            errors.append("StatefulSet/nats: podAntiAffinity missing")
        if not nats["spec"].get("volumeClaimTemplates"):
            errors.append("StatefulSet/nats: no PVC (volumeClaimTemplates) for JetStream")
        cm_name = next((v["configMap"]["name"] for v in (pod_spec_of(nats) or {}).get("volumes", []) if "configMap" in v), None)
        conf = ((configmaps.get(cm_name) or {}).get("data") or {})
        conf_text = next(iter(conf.values()), "") if conf else ""
        if not conf_text:
            errors.append("NATS config ConfigMap not found")
        else:
            with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as tf:
                tf.write(conf_text)
            try:
                env = {}
                for c in (pod_spec_of(nats) or {}).get("containers", []):
                    for e in c.get("env") or []:
                        env[e["name"]] = "nats-0" if "valueFrom" in e else str(e.get("value", ""))
                err = nats_test(tools["nats_server"], Path(tf.name), env)
                if err:
                    errors.append(f"ConfigMap/{cm_name} nats.conf: nats-server -t: {err}")
            finally:
                os.unlink(tf.name)
            routes = re.findall(r"nats://([\w.-]+):6222", conf_text)
            svc_name = nats["spec"].get("serviceName")
            want = {f"nats-{i}.{svc_name}" for i in range(nats_replicas)}
            if {r.split(f".{svc_name}")[0] + f".{svc_name}" for r in routes} != want:
                errors.append(f"nats.conf routes {routes} should name every pod via {svc_name}")
            if not re.search(r"server_name:\s*\$POD_NAME", conf_text):
                errors.append("nats.conf: server_name should be $POD_NAME (KEDA reaches the consumer leader by server name)")
            if "jetstream" not in conf_text:
                errors.append("nats.conf: JetStream not enabled")
            m = re.search(r"max_file_store:\s*(\d+)\s*GB", conf_text)
            pvc = nats["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"]
            if m and pvc.endswith("Gi") and int(m.group(1)) >= int(pvc[:-2]):
                errors.append(f"nats.conf max_file_store {m.group(1)}GB does not fit the {pvc} PVC")
    ds_cfg = (configmaps.get("deltastream-config") or {}).get("data") or {}
    nats_urls = [u for u in ds_cfg.get("DS_NATS_URL", "").split(",") if u]
    if nats and len(nats_urls) != nats_replicas:
        errors.append(f"DS_NATS_URL should list the {nats_replicas} servers, lists {len(nats_urls)}")
    mongo = by_kind.get("StatefulSet", {}).get("mongo")
    if not mongo:
        errors.append("StatefulSet/mongo missing")
    else:
        if int(mongo["spec"].get("replicas", 1)) != 3:
            errors.append("StatefulSet/mongo: 3 members expected")
        margs = " ".join((pod_spec_of(mongo) or {}).get("containers", [{}])[0].get("args") or [])
        if "--replSet rs0" not in margs:
            errors.append("StatefulSet/mongo: --replSet rs0 expected")
        if "--keyFile" not in margs:
            errors.append("StatefulSet/mongo: --keyFile expected (internal auth with credentials)")
        if not str(mongo["spec"]["template"]["spec"]["containers"][0].get("image", "")).startswith("mongo:6.0"):
            errors.append("StatefulSet/mongo: image mongo:6.0 expected")
    mongo_urls = [e.get("value", "") for d in workloads.values() for c in (pod_spec_of(d) or {}).get("containers", []) for e in c.get("env") or [] if e["name"] == "DS_MONGO_URL"]
    if not mongo_urls or not all("replicaSet=rs0" in u for u in mongo_urls):
        errors.append("every DS_MONGO_URL should carry ?replicaSet=rs0")
    if not any(k == "Job" and "mongo" in n for (k, n) in workloads):
        errors.append("no Job initiating the MongoDB replica set")
    topo = [d for (k, n), d in workloads.items() if k == "Job" for c in (pod_spec_of(d) or {}).get("containers", []) if (c.get("args") or [])[:2] == ["topology", "apply"]]
    if not topo:
        errors.append("no Job running `deltastream topology apply`")
    for d in topo:
        args = pod_spec_of(d)["containers"][0]["args"]
        if "--replicas" not in args or args[args.index("--replicas") + 1] != str(nats_replicas):
            errors.append(f"Job/{d['metadata']['name']}: --replicas should equal the NATS servers ({nats_replicas}) for R{nats_replicas} streams")
    replicas = {n: int(d["spec"].get("replicas", 1)) for (k, n), d in workloads.items() if k == "Deployment"}
    if replicas.get("feed") != 1:
        errors.append("Deployment/feed: exactly 1 replica expected")
    if replicas.get("gateway", 0) < 2:
        errors.append("Deployment/gateway: 2+ replicas expected")
    rep.result(f"NATS {nats_replicas}-node JetStream cluster (nats-server -t on its config), MongoDB rs0, topology Job --replicas {nats_replicas}, replica counts",
               errors, label="cluster topology")

    # KEDA ScaledObjects (CRDs: structural checks).
    errors = []
    streams = {json.loads(p.read_text())["name"] for p in (root / "nats/streams").glob("*.json")}
    scaled = [d for _, d in crds if d.get("kind") == "ScaledObject"]
    for f, d in crds:
        if d.get("apiVersion") != "keda.sh/v1alpha1" or d.get("kind") not in ("ScaledObject", "TriggerAuthentication", "ScaledJob"):
            errors.append(f"{f}: {d.get('apiVersion')} {d.get('kind')}: unknown custom resource (no schema)")
    targets = set()
    for d in scaled:
        name = d["metadata"]["name"]
        spec = d.get("spec") or {}
        allowed = {"scaleTargetRef", "pollingInterval", "cooldownPeriod", "idleReplicaCount", "minReplicaCount",
                   "maxReplicaCount", "fallback", "advanced", "triggers", "initialCooldownPeriod"}
        for k in spec:
            if k not in allowed:
                errors.append(f"ScaledObject/{name}: unknown field spec.{k}")
        ref = spec.get("scaleTargetRef") or {}
        tgt = ref.get("name")
        if ("Deployment", tgt) not in workloads or ref.get("kind", "Deployment") != "Deployment":
            errors.append(f"ScaledObject/{name}: scaleTargetRef {tgt} is not a Deployment here")
        targets.add(tgt)
        mn, mx = spec.get("minReplicaCount", 0), spec.get("maxReplicaCount", 100)
        if not (isinstance(mn, int) and isinstance(mx, int) and 1 <= mn <= mx):
            errors.append(f"ScaledObject/{name}: need 1 <= minReplicaCount <= maxReplicaCount")
        fb = spec.get("fallback")
        if fb and not (isinstance(fb.get("failureThreshold"), int) and isinstance(fb.get("replicas"), int)):
            errors.append(f"ScaledObject/{name}: fallback needs integer failureThreshold and replicas")
        trig = spec.get("triggers") or []
        if not trig:
            errors.append(f"ScaledObject/{name}: no triggers")
        for t in trig:
            if t.get("type") != "nats-jetstream":
                errors.append(f"ScaledObject/{name}: trigger type {t.get('type')} (nats-jetstream expected)")
                continue
            md = t.get("metadata") or {}
            for k in ("natsServerMonitoringEndpoint", "account", "stream", "consumer", "lagThreshold"):
                if not md.get(k):
                    errors.append(f"ScaledObject/{name}: trigger metadata.{k} missing")
            for k, v in md.items():
                if not isinstance(v, str):
                    errors.append(f"ScaledObject/{name}: trigger metadata.{k} must be a string")
            ep = str(md.get("natsServerMonitoringEndpoint", ""))
            m = re.match(r"^([a-z0-9-]+)\.([a-z0-9-]+)\.svc\.cluster\.local:(\d+)$", ep)
            if not m:
                errors.append(f"ScaledObject/{name}: endpoint {ep} should be <headless-service>.<namespace>.svc.cluster.local:<port>")
            else:
                svc = services.get(m.group(1)) or {}
                if (svc.get("spec") or {}).get("clusterIP") != "None":
                    errors.append(f"ScaledObject/{name}: {m.group(1)} is not a headless Service (the scaler reaches <leader>.{m.group(1)})")
                if int(m.group(3)) not in {p.get("port") for p in (svc.get("spec") or {}).get("ports") or []}:
                    errors.append(f"ScaledObject/{name}: Service {m.group(1)} has no port {m.group(3)}")
                if m.group(2) != namespace:
                    errors.append(f"ScaledObject/{name}: endpoint namespace {m.group(2)} != {namespace}")
            if md.get("stream") not in streams:
                errors.append(f"ScaledObject/{name}: stream {md.get('stream')} is not declared in nats/streams ({sorted(streams)})")
            consumer = str(md.get("consumer", ""))
            if md.get("stream") == "MD_RAW" and not (tgt == "enrich" and re.match(r"^enrich_[A-Z0-9_]+$", consumer)):
                errors.append(f"ScaledObject/{name}: MD_RAW consumers are enrich_<PRODUCT> of Deployment enrich, got {consumer} -> {tgt}")
            if md.get("stream") == "MD_ENRICHED" and not (tgt == "project" and consumer == "project"):
                errors.append(f"ScaledObject/{name}: MD_ENRICHED consumer `project` scales Deployment project, got {consumer} -> {tgt}")
            if not re.match(r"^[1-9][0-9]*$", str(md.get("lagThreshold", ""))):
                errors.append(f"ScaledObject/{name}: lagThreshold must be a positive integer string")
    for t in ("enrich", "project"):
        if t not in targets:
            errors.append(f"no ScaledObject scales {t}")
    rep.result(f"KEDA ScaledObjects ({len(scaled)}): structure, targets, nats-jetstream triggers on declared streams/consumers",
               errors, label="KEDA")
    placeholders = [f"{n}" for n, s in secrets.items() if ((s.get("metadata") or {}).get("annotations") or {}).get("deltastream.io/placeholder") == "true"]
    if placeholders:
        rep.note(f"Secrets {', '.join(placeholders)} hold PLACEHOLDER values (replace before deploying)")


# ---------------------------------------------------------------------------
# Prometheus

def check_prometheus(root: Path, rep: Report, tools: dict, compose: dict) -> None:
    rep.section("Prometheus (deploy/prometheus)")
    pdir = root / "deploy/prometheus"
    promtool = tools["promtool"]
    for f in ("prometheus.yml", "alerts.yml", "alerts.test.yml"):
        if not (pdir / f).is_file():
            rep.fail(f"deploy/prometheus/{f}: missing")
            return
    code, out = run([promtool, "check", "rules", "alerts.yml"], cwd=pdir)
    rules_ok = code == 0
    rep.result(f"alerts.yml: promtool check rules ({tools['promtool_version']})", [] if rules_ok else [out])
    # With broken rules, check only the config's own syntax and skip the unit
    # tests (they would repeat the same parse error).
    args = ["check", "config"] + ([] if rules_ok else ["--syntax-only"]) + ["prometheus.yml"]
    code, out = run([promtool, *args], cwd=pdir)
    rep.result(f"prometheus.yml: promtool {' '.join(args[:-1])} (rule_files included)", [] if code == 0 else [out])
    if rules_ok:
        code, out = run([promtool, "test", "rules", "alerts.test.yml"], cwd=pdir)
        rep.result("alerts.yml: promtool test rules alerts.test.yml (alert unit tests)", [] if code == 0 else [out])
    else:
        rep.fail("alerts.yml: unit tests (alerts.test.yml) skipped: the rules do not parse")
    errors = []
    try:
        rules = yaml.safe_load((pdir / "alerts.yml").read_text()) or {}
    except (OSError, yaml.YAMLError) as e:
        rep.fail(f"alerts.yml: {e}")
        return
    names = set()
    for g in rules.get("groups") or []:
        for r in g.get("rules") or []:
            if "alert" not in r:
                continue
            a = r["alert"]
            if a in names:
                errors.append(f"{a}: duplicate alert name")
            names.add(a)
            if (r.get("labels") or {}).get("severity") not in ("info", "warning", "critical"):
                errors.append(f"{a}: labels.severity should be info|warning|critical")
            for k in ("summary", "description"):
                if not (r.get("annotations") or {}).get(k):
                    errors.append(f"{a}: annotations.{k} missing")
            bad = unknown_metrics(r.get("expr", ""))
            if bad:
                errors.append(f"{a}: unknown metric(s) {sorted(bad)}")
            errors += [f"{a}: {e}" for e in check_against_code(r.get("expr", ""), tools["code_metrics"])]
    for a in sorted(REQUIRED_ALERTS - names):
        errors.append(f"required alert {a} missing")
    rep.result(f"alerts.yml: {len(names)} alerts, severities/annotations, metrics and labels {tools['code_metrics_src']}, required alerts present", errors)
    # Scrape config vs compose.
    errors = []
    cfg = yaml.safe_load((pdir / "prometheus.yml").read_text()) or {}
    services = compose.get("services", {})
    for job in cfg.get("scrape_configs") or []:
        for sd in job.get("dns_sd_configs") or []:
            for n in sd.get("names") or []:
                s = services.get(n)
                if s is None:
                    errors.append(f"job {job['job_name']}: {n} is not a compose service")
                    continue
                env = env_map(s.get("environment"))
                addr = env.get("DS_METRICS_ADDR") or env.get("DS_HTTP_ADDR") or ""
                if not addr.endswith(f":{sd.get('port')}"):
                    errors.append(f"job {job['job_name']}: {n} serves metrics on {addr or '?'}, scraped on port {sd.get('port')}")
        for sc in job.get("static_configs") or []:
            for t in sc.get("targets") or []:
                host = t.split(":")[0]
                if host not in ("localhost", "127.0.0.1") and host not in services:
                    errors.append(f"job {job['job_name']}: target {t} is not a compose service")
    scraped = {n for job in cfg.get("scrape_configs") or [] for sd in job.get("dns_sd_configs") or [] for n in sd.get("names") or []}
    for n in ("feed", "enrich", "project", "gateway"):
        if n not in scraped:
            errors.append(f"{n} is not scraped")
    pm = compose.get("mounts", {}).get("prometheus", [])
    if not any(src.rstrip("/").endswith("deploy/prometheus") and dst == "/etc/prometheus" for src, dst in pm):
        errors.append("compose prometheus does not mount deploy/prometheus at /etc/prometheus")
    rep.result("prometheus.yml scrapes every DeltaStream service on the port it serves metrics", errors)


# ---------------------------------------------------------------------------
# Grafana

def check_grafana(root: Path, rep: Report, tools: dict, compose: dict) -> None:
    rep.section("Grafana (deploy/grafana)")
    gdir = root / "deploy/grafana"
    errors: list[str] = []
    ds_files = sorted((gdir / "provisioning/datasources").glob("*.y*ml"))
    dash_files = sorted((gdir / "provisioning/dashboards").glob("*.y*ml"))
    ds_uids, provider_paths = set(), []
    if not ds_files:
        errors.append("no datasource provisioning file")
    for f in ds_files:
        d = yaml.safe_load(f.read_text()) or {}
        if d.get("apiVersion") != 1:
            errors.append(f"{f.name}: apiVersion 1 expected")
        for ds in d.get("datasources") or []:
            ds_uids.add(ds.get("uid"))
            if ds.get("type") == "prometheus":
                host = re.sub(r"^https?://", "", str(ds.get("url", ""))).split("/")[0]
                h, _, port = host.partition(":")
                if h not in compose.get("services", {}):
                    errors.append(f"{f.name}: datasource url host {h} is not a compose service")
                if port != "9090":
                    errors.append(f"{f.name}: datasource url should use port 9090")
    if not dash_files:
        errors.append("no dashboard provider provisioning file")
    for f in dash_files:
        d = yaml.safe_load(f.read_text()) or {}
        if d.get("apiVersion") != 1:
            errors.append(f"{f.name}: apiVersion 1 expected")
        for p in d.get("providers") or []:
            if p.get("type") != "file" or not (p.get("options") or {}).get("path"):
                errors.append(f"{f.name}: provider {p.get('name')} should be type file with options.path")
            provider_paths.append((p.get("options") or {}).get("path"))
    gm = compose.get("mounts", {}).get("grafana", [])
    if not any(src.rstrip("/").endswith("deploy/grafana/provisioning") and dst == "/etc/grafana/provisioning" for src, dst in gm):
        errors.append("compose grafana does not mount deploy/grafana/provisioning at /etc/grafana/provisioning")
    dash_mounts = [dst for src, dst in gm if src.rstrip("/").endswith("deploy/grafana/dashboards")]
    for pp in provider_paths:
        if pp not in dash_mounts:
            errors.append(f"provider path {pp} is not where compose mounts deploy/grafana/dashboards ({dash_mounts})")
    rep.result("provisioning: datasource -> prometheus:9090, dashboard provider path matches the compose mount", errors)

    dashboards = sorted((gdir / "dashboards").glob("*.json"))
    if not dashboards:
        rep.fail("deploy/grafana/dashboards: no dashboard JSON")
        return
    exprs: list[tuple[str, str]] = []
    for f in dashboards:
        errors = []
        try:
            dash = json.loads(f.read_text())
        except json.JSONDecodeError as e:
            rep.fail(f"{f.name}: JSON: {e}")
            continue
        for k in ("uid", "title", "schemaVersion", "panels"):
            if k not in dash:
                errors.append(f"missing {k}")
        variables = {v.get("name"): v for v in (dash.get("templating") or {}).get("list") or []}
        panels = []
        for p in dash.get("panels") or []:
            panels.append(p)
            panels.extend(p.get("panels") or [])
        content = [p for p in panels if p.get("type") != "row"]
        if len(content) < 8:
            errors.append(f"only {len(content)} panels")
        ids = [p.get("id") for p in panels]
        if len(ids) != len(set(ids)) or None in ids:
            errors.append("panel ids must be present and unique")
        cells: dict[tuple[int, int], object] = {}
        for p in panels:
            g = p.get("gridPos") or {}
            if not all(isinstance(g.get(k), int) for k in ("h", "w", "x", "y")):
                errors.append(f"panel {p.get('id')} '{p.get('title')}': gridPos h/w/x/y missing")
                continue
            if g["x"] < 0 or g["w"] < 1 or g["x"] + g["w"] > 24:
                errors.append(f"panel '{p.get('title')}': gridPos outside the 24-column grid")
            for x in range(g["x"], g["x"] + g["w"]):
                for y in range(g["y"], g["y"] + g["h"]):
                    if (x, y) in cells:
                        errors.append(f"panel '{p.get('title')}' overlaps '{cells[(x, y)]}'")
                        break
                    cells[(x, y)] = p.get("title")
                else:
                    continue
                break
        used_metrics: set[str] = set()
        for p in content:
            t = p.get("title") or f"id {p.get('id')}"
            if not p.get("title"):
                errors.append(f"panel {p.get('id')}: no title")
            targets = p.get("targets") or []
            if not targets:
                errors.append(f"panel '{t}': no targets")
            for ds in [p.get("datasource")] + [tg.get("datasource") for tg in targets]:
                if isinstance(ds, dict):
                    uid = str(ds.get("uid", ""))
                    m = re.match(r"^\$\{?(\w+)\}?$", uid)
                    if m and m.group(1) not in variables:
                        errors.append(f"panel '{t}': datasource variable {uid} not defined")
                    if not m and uid not in ds_uids:
                        errors.append(f"panel '{t}': datasource uid {uid} is not provisioned")
            for tg in targets:
                e = tg.get("expr", "")
                if not e:
                    errors.append(f"panel '{t}' target {tg.get('refId')}: empty expr")
                    continue
                for var in re.findall(r"\$\{?(\w+)", e):
                    if not var.startswith("__") and var not in variables:
                        errors.append(f"panel '{t}': expr uses undefined variable ${var}")
                bad = unknown_metrics(e)
                if bad:
                    errors.append(f"panel '{t}': unknown metric(s) {sorted(bad)}")
                errors += [f"panel '{t}': {x}" for x in check_against_code(e, tools["code_metrics"])]
                used_metrics |= metric_names(e)
                exprs.append((f"{f.name}: {t}", e))
        for m in sorted(REQUIRED_DASHBOARD_METRICS - used_metrics):
            errors.append(f"no panel charts {m}")
        for name, v in variables.items():
            if v.get("type") == "datasource" and v.get("query") != "prometheus":
                errors.append(f"variable {name}: datasource query should be prometheus")
        rep.result(f"{f.name}: {len(content)} panels, unique ids, non-overlapping grid, variables, datasources, metrics and labels {tools['code_metrics_src']}", errors)

    # PromQL syntax: promtool parses every expression as a recording rule.
    subst = {"__rate_interval": "5m", "__interval": "1m", "__range": "1h", "__range_s": "3600", "__interval_ms": "60000"}
    rules = []
    for i, (where, e) in enumerate(exprs):
        x = re.sub(r"\$\{?(__\w+)\}?", lambda m: subst.get(m.group(1), "1m"), e)
        x = re.sub(r"\$\{?(\w+)(?::\w+)?\}?", ".*", x)
        rules.append({"record": f"dashboard:expr_{i}", "expr": x})
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as tf:
        yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, tf)
    try:
        code, out = run([tools["promtool"], "check", "rules", tf.name])
    finally:
        os.unlink(tf.name)
    errs = []
    if code != 0:
        for m in re.finditer(r"dashboard:expr_(\d+)|group \"dashboard\", rule (\d+)", out):
            idx = int(m.group(1) or int(m.group(2)) - 1)
            if 0 <= idx < len(exprs):
                if f"{exprs[idx][0]}: {exprs[idx][1]}" not in errs:
                    errs.append(f"{exprs[idx][0]}: {exprs[idx][1]}")
        errs.append(out[-2000:])
    rep.result(f"dashboard PromQL: {len(exprs)} expressions parse (promtool check rules)", errs)


# ---------------------------------------------------------------------------

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", required=True, type=Path)
    ap.add_argument("--promtool", required=True)
    ap.add_argument("--nats-server", required=True)
    ap.add_argument("--k8s-versions", default="1.28.0,1.37.0",
                    help="comma-separated Kubernetes versions whose schemas every manifest must satisfy")
    a = ap.parse_args()
    t0 = time.monotonic()
    from importlib.metadata import version
    tools = {
        "promtool": a.promtool,
        "nats_server": a.nats_server,
        "k8s_versions": [v.strip() for v in a.k8s_versions.split(",") if v.strip()],
        "check_jsonschema": version("check-jsonschema"),
        "kubernetes_validate": version("kubernetes-validate"),
    }
    _, out = run([a.promtool, "--version"])
    tools["promtool_version"] = "promtool " + (re.search(r"version (\S+)", out) or [None, "?"])[1]
    _, out = run([a.nats_server, "--version"])
    tools["nats_version"] = out.replace("nats-server: ", "nats-server ")
    rep = Report()
    root = a.root.resolve()
    tools["code_metrics"] = code_metrics(root)
    tools["code_metrics_src"] = (f"checked against the {len(tools['code_metrics'])} metrics the Rust code registers"
                                 if tools["code_metrics"] else "checked against the documented metric list")
    compose: dict = {}

    def guarded(name: str, fn, *args):
        # Malformed input can break a later check of a section; report it and go on.
        try:
            return fn(*args)
        except Exception as e:  # noqa: BLE001
            rep.fail(f"{name}: could not finish the checks ({type(e).__name__}: {e}); fix the problems above")
            return None

    guarded("Dockerfile", check_dockerfile, root, rep)
    compose = guarded("docker-compose.yml", check_compose, root, rep, tools) or {}
    guarded("NATS configs", check_nats_configs, root, rep, tools, compose)
    guarded("OpenTelemetry collector", check_otel, root, rep, compose)
    guarded("Kubernetes", check_kubernetes, root, rep, tools)
    guarded("Prometheus", check_prometheus, root, rep, tools, compose)
    guarded("Grafana", check_grafana, root, rep, tools, compose)
    dt = time.monotonic() - t0
    if rep.failures:
        print(f"validate-deploy: FAILED: {len(rep.failures)} problem(s), {rep.oks} checks passed ({dt:.1f}s)")
        return 1
    print(f"validate-deploy: OK: {rep.oks} checks passed ({dt:.1f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
