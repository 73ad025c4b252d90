"""The Kubernetes manifests (deploy/kubernetes/): each overlay as `kubectl kustomize` renders it, checked
against the API's schemas, against the image (Dockerfile, docker-compose.yml) and against the settings
registry (devserver/settings.py), and held to the policy a hardened production pod follows.

Rendering needs kubectl (kustomize is built in); no cluster is needed or reached: `kubectl apply -k
--dry-run=client` asks a server for its API first, so nothing here calls it. Without kubectl these
tests skip, except under CI=true, where that is a failure. The schemas are kubernetes-validate's
(requirements-test.txt pins it), in strict mode: an unknown or misspelt field fails as a wrong type does.
Each overlay is rendered from a copy of the tree given the .env.secret a deployer makes, with a
made-up key: the real files are git's to ignore, and these tests never read one.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from devserver.settings import SETTING_NAMED, load_settings
from harness import ROOT

try:
    import kubernetes_validate
    import yaml  # kubernetes-validate's own dependency
except ImportError as exc:
    kubernetes_validate = yaml = None
    MISSING = (f"{exc.name} is not installed: the Kubernetes tests need kubernetes-validate (and the PyYAML it "
               "brings), which requirements-test.txt pins: `make install`")

KUBERNETES = ROOT / "deploy" / "kubernetes"
OVERLAYS = sorted(path.parent.name for path in (KUBERNETES / "overlays").glob("*/kustomization.yaml"))
# The versions these manifests are for: 1.29, whose API has every field they use (the autoscaler's
# autoscaling/v2, the disruption budget's unhealthyPodEvictionPolicy, the spread's matchLabelKeys), to
# the newest whose schemas the pinned kubernetes-validate bundles.
KUBERNETES_VERSIONS = [f"1.{minor}" for minor in range(29, 38)]
SECRET_FILE = ".env.secret"  # in each overlay, KEY=value lines: its secretGenerator reads it
MADE_UP_SECRET = "SECRET_KEY=made-up-for-the-tests-not-a-key\n"
DOCKERFILE = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")  # continuation lines joined
# Settings the base sets to other than the registry's production default, on purpose.
CHOSEN_FOR_KUBERNETES = {
    "APP_ENV": "production is the switch itself; the registry's default is development",
    "WEB_CONCURRENCY": "the default counts the node's CPUs, which a container's CPU limit does not hide",
    "TRUSTED_PROXIES": "none by default; here the ingress controller's pod network",
}


def need_tools() -> None:
    if kubernetes_validate is None:
        pytest.fail(MISSING, pytrace=False)


@functools.cache
def kubectl_problem() -> tuple[str | None, str | None]:
    """(kubectl's path, None), or (None, why it cannot render these manifests)."""
    found = shutil.which("kubectl")
    if not found:
        return None, "kubectl is not installed: the Kubernetes manifests cannot be rendered (`kubectl kustomize`)"
    result = subprocess.run([found, "version", "--client", "-o", "json"], capture_output=True, text=True, timeout=30)
    kustomize_version = re.search(r'"kustomizeVersion":\s*"([^"]*)"', result.stdout)
    kustomize_version = kustomize_version[1] if kustomize_version else ""
    major = re.match(r"v(\d+)\.", kustomize_version)
    if not major or int(major[1]) < 5:
        return None, (f"{found} has kustomize {kustomize_version or 'of an unknown version'} built in: these "
                      "manifests need kustomize 5 (kubectl 1.27 or later; Debian's kubernetes-client is older)")
    return found, None


def kubectl() -> str:
    found, problem = kubectl_problem()
    if found:
        return found
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{problem}: under CI=true these tests must run", pytrace=False)
    pytest.skip(problem)


def kustomize(directory: Path) -> subprocess.CompletedProcess:
    return subprocess.run([kubectl(), "kustomize", str(directory)], capture_output=True, text=True, timeout=60)


def tree_copy(dest: Path, *, secrets: bool = True) -> Path:
    """deploy/kubernetes as committed (no .env.secret a deployer left), each overlay given one with a made-up key."""
    shutil.copytree(KUBERNETES, dest, ignore=shutil.ignore_patterns(SECRET_FILE))
    if secrets:
        for overlay in OVERLAYS:
            (dest / "overlays" / overlay / SECRET_FILE).write_text(MADE_UP_SECRET)
    return dest


def render(tree: Path, overlay: str) -> str:
    result = kustomize(tree / "overlays" / overlay)
    assert result.returncode == 0, f"kubectl kustomize overlays/{overlay} failed:\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict[str, str]:
    """Each overlay's manifests, as text."""
    tree = tree_copy(tmp_path_factory.mktemp("kubernetes") / "kubernetes")
    return {overlay: render(tree, overlay) for overlay in OVERLAYS}


@pytest.fixture(scope="module")
def manifests(rendered) -> dict[str, list[dict]]:
    need_tools()
    return {overlay: [item for item in yaml.safe_load_all(text) if item] for overlay, text in rendered.items()}


@pytest.fixture(params=OVERLAYS)
def overlay(request) -> str:
    return request.param


@pytest.fixture
def objects(manifests, overlay) -> list[dict]:
    return manifests[overlay]


# -- reading the manifests and the image's files ------------------------------------------------------

def of_kind(objects: list[dict], kind: str) -> list[dict]:
    return [item for item in objects if item["kind"] == kind]


def one(objects: list[dict], kind: str, name: str | None = None) -> dict:
    found = [item for item in of_kind(objects, kind) if name is None or item["metadata"]["name"] == name]
    assert len(found) == 1, f"{len(found)} {kind} objects named {name or 'anything'}, one expected"
    return found[0]


def pod(objects: list[dict]) -> dict:
    return one(objects, "Deployment")["spec"]["template"]["spec"]


def pod_labels(objects: list[dict]) -> dict:
    return one(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]


def server(spec: dict) -> dict:
    (container,) = spec["containers"]  # the app alone: no sidecar
    return container


def every_container(spec: dict) -> list[dict]:
    return spec.get("initContainers", []) + spec["containers"]


def release_step(spec: dict) -> dict:
    (container,) = [c for c in spec.get("initContainers", []) if c["name"] == "release"]
    return container


def image_parts(image: str) -> tuple[str, str | None, str | None]:
    """(repository, tag, digest) of an image reference; a registry's port is no tag."""
    name, _, digest = image.partition("@")
    repository, colon, tag = name.rpartition(":")
    if not colon or "/" in tag:
        repository, tag = name, None
    return repository, tag, digest or None


def environment_of(container: dict, objects: list[dict]) -> dict[str, str]:
    """What a container's environment gets from its manifests: its ConfigMaps and Secrets, then its env."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env |= one(objects, "ConfigMap", source["configMapRef"]["name"]).get("data", {})
        if "secretRef" in source:
            secret = one(objects, "Secret", source["secretRef"]["name"])
            env |= {key: base64.b64decode(value).decode() for key, value in secret.get("data", {}).items()}
            env |= secret.get("stringData", {})
    for entry in container.get("env", []):
        env[entry["name"]] = entry.get("value", "")
    return env


def dockerfile(pattern: str) -> set[str]:
    """Every value `pattern` (one group) finds in the Dockerfile, in any stage."""
    found = set(re.findall(pattern, DOCKERFILE, re.MULTILINE))
    assert found, f"the Dockerfile has no line like {pattern!r}"
    return found


def compose_prod_image() -> str:
    """The prod service's image as docker-compose.yml names it, with no .env: its variables' defaults."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", compose["services"]["prod"]["image"])


def base_settings() -> dict[str, str]:
    """The settings the base's ConfigMap generator sets (base/kustomization.yaml), as written."""
    kustomization = yaml.safe_load((KUBERNETES / "base" / "kustomization.yaml").read_text())
    (generator,) = [g for g in kustomization["configMapGenerator"] if g["name"] == "web-settings"]
    return dict(literal.split("=", 1) for literal in generator["literals"])


# -- rendering ----------------------------------------------------------------------------------------

def test_there_are_overlays_to_deploy():
    assert {"production", "local"} <= set(OVERLAYS), OVERLAYS


def test_rendering_is_deterministic_and_independent_of_where_the_tree_is(rendered, overlay, tmp_path):
    """The same bytes from another copy elsewhere: a diff between two renders is a change, never noise."""
    assert render(tree_copy(tmp_path / "elsewhere"), overlay) == rendered[overlay]


def test_an_overlay_without_its_secret_file_does_not_render(overlay, tmp_path):
    """No deploy without a key of its own: kustomize stops there, naming the file."""
    result = kustomize(tree_copy(tmp_path / "kubernetes", secrets=False) / "overlays" / overlay)
    assert result.returncode != 0
    assert SECRET_FILE in result.stderr, result.stderr


def test_the_secret_files_stay_out_of_git_and_the_images():
    for overlay in OVERLAYS:
        path = (KUBERNETES / "overlays" / overlay / SECRET_FILE).relative_to(ROOT)
        ignored = subprocess.run(["git", "-C", str(ROOT), "check-ignore", "-q", "--no-index", str(path)])
        assert ignored.returncode == 0, f"git does not ignore {path}"
    assert not subprocess.run(["git", "-C", str(ROOT), "ls-files", "--", f"*{SECRET_FILE}"], capture_output=True,
                              text=True, check=True).stdout
    dockerignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert "deploy" in dockerignore or "**/.env.*" in dockerignore


def test_no_overlay_or_base_holds_a_literal_secret():
    need_tools()
    for path in KUBERNETES.rglob("kustomization.yaml"):
        for generator in yaml.safe_load(path.read_text()).get("secretGenerator", []):
            assert not generator.get("literals"), f"{path}: a secret written in a committed file"
            assert generator.get("envs") == [SECRET_FILE], path


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_the_manifests_are_valid_kubernetes(objects, overlay, version):
    """Strict: an unknown field (a typo, a field of another version) fails as a wrong type does."""
    need_tools()
    problems = []
    for item in objects:
        name = f"overlays/{overlay}: {item['kind']} {item['metadata']['name']}"
        try:
            validated = kubernetes_validate.validate(item, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            problems.append(f"{name}: {'.'.join(map(str, exc.path))}: {exc.message}")
        except (kubernetes_validate.SchemaNotFoundError, kubernetes_validate.VersionNotSupportedError) as exc:
            problems.append(f"{name}: {exc.message} (the kubernetes-validate requirements-test.txt pins has it)")
        else:
            if validated != version:
                problems.append(f"{name}: validated against {validated}'s schemas, not {version}'s")
    if problems:  # out of the except: the report is these lines, not the schema that raised them
        pytest.fail(f"not valid for Kubernetes {version}:\n" + "\n".join(problems), pytrace=False)


# -- the manifests agree with the image -----------------------------------------------------------------

def test_the_image_is_the_one_compose_builds_with_a_pinned_tag(objects, overlay):
    built_repository, built_tag, _ = image_parts(compose_prod_image())
    for container in every_container(pod(objects)):
        repository, tag, digest = image_parts(container["image"])
        assert tag or digest, f"{container['name']}: {container['image']} has no tag"
        assert tag != "latest", f"{container['name']}: {container['image']}: a tag that moves"
        assert repository.rsplit("/", 1)[-1] == built_repository, container["image"]
    if overlay == "local":  # the image compose has just built, loaded into the cluster as it is
        assert image_parts(server(pod(objects))["image"]) == (built_repository, built_tag, None)


def test_the_container_port_is_the_images(objects):
    ports = server(pod(objects))["ports"]
    assert {str(p["containerPort"]) for p in ports} == dockerfile(r"^EXPOSE (\d+)$") == dockerfile(
        r"^ENV .*\bPORT=(\d+)")
    service = one(objects, "Service")
    assert service["spec"]["type"] == "ClusterIP"
    (service_port,) = service["spec"]["ports"]
    assert service_port["port"] == 80
    assert service_port["targetPort"] in {p.get("name") for p in ports} | {p["containerPort"] for p in ports}


def test_it_runs_as_the_images_user(objects):
    context = pod(objects)["securityContext"]
    assert {str(context["runAsUser"])} == dockerfile(r"^ARG UID=(\d+)$")
    assert {str(context["runAsGroup"])} == {str(context["fsGroup"])} == dockerfile(r"^ARG GID=(\d+)$")


def test_the_probes_are_the_images_health_check(objects):
    check = [json.loads(cmd) for cmd in dockerfile(r"^HEALTHCHECK .*\bCMD (\[.*\])$")]
    timeout = {int(t) for t in dockerfile(r"^HEALTHCHECK .*--timeout=(\d+)s")}
    container = server(pod(objects))
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert probe in container, f"the server has no {probe}"
        assert [container[probe]["exec"]["command"]] == check, probe
        assert container[probe]["timeoutSeconds"] >= max(timeout), f"{probe}: less time than Docker gives the check"
    start_period = int(*dockerfile(r"^HEALTHCHECK .*--start-period=(\d+)s"))
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= start_period


def test_the_release_step_runs_before_the_server_in_every_pod(objects):
    """The image's entrypoint given `release` (compose's `command: ["release"]`), with the server's image,
    settings and writable paths; no Job (deployment.yaml says why)."""
    spec = pod(objects)
    release, web = release_step(spec), server(spec)
    assert release["args"] == ["release"] and "command" not in release
    assert [json.loads(e) for e in dockerfile(r"^ENTRYPOINT (\[.*\])$")] == [["python", "/app/scripts/entrypoint.py"]]
    for field in ("image", "envFrom", "volumeMounts", "securityContext", "resources"):
        assert release[field] == web[field], field
    assert not of_kind(objects, "Job")
    # One new pod at a time and none of the old gone first: a version's first pod migrates alone.
    strategy = one(objects, "Deployment")["spec"]["strategy"]
    assert strategy == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}


# -- the manifests agree with the settings registry ------------------------------------------------------

def test_every_variable_is_a_declared_setting(objects):
    for item in of_kind(objects, "ConfigMap") + of_kind(objects, "Secret"):
        keys = set(item.get("data", {})) | set(item.get("stringData", {}))
        assert keys <= SETTING_NAMED.keys(), f"{item['metadata']['name']}: {sorted(keys - SETTING_NAMED.keys())}"
    for container in every_container(pod(objects)):
        names = set(environment_of(container, objects))
        assert names <= SETTING_NAMED.keys(), f"{container['name']}: {sorted(names - SETTING_NAMED.keys())}"
    assert pod(objects)["enableServiceLinks"] is False  # no WEB_PORT=tcp://… beside them


def test_the_settings_are_production_and_the_grace_period_covers_the_shutdown(objects):
    spec = pod(objects)
    env = environment_of(server(spec), objects)
    assert environment_of(release_step(spec), objects) == env
    settings = load_settings(env, cwd=ROOT)  # a ConfigError here is what the pod would say at start
    assert settings.production and not settings.debug and settings.secret_key
    assert "WEB_CONCURRENCY" in env, CHOSEN_FOR_KUBERNETES["WEB_CONCURRENCY"]
    assert settings.trusted_proxies, "no TRUSTED_PROXIES: behind the ingress every client would be the controller"
    assert spec["terminationGracePeriodSeconds"] > settings.shutdown_delay + settings.graceful_timeout


@pytest.mark.unit
def test_the_base_settings_are_the_registrys_production_defaults():
    need_tools()
    production = {"app_env": "production", "debug": False}
    for name, raw in base_settings().items():
        if name in CHOSEN_FOR_KUBERNETES:
            continue
        setting = SETTING_NAMED[name]
        assert setting.parse(name, raw) == setting.parse(name, setting.default_for(production)), name


# -- policy: what every production pod here must be --------------------------------------------------------

def test_every_container_has_requests_and_limits(objects):
    for container in every_container(pod(objects)):
        for bound in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(container.get("resources", {}).get(bound, {})), (container["name"], bound)


def test_nothing_runs_as_root_or_with_privileges(objects):
    spec = pod(objects)
    context = spec["securityContext"]
    assert context["runAsNonRoot"] is True and context["runAsUser"] != 0
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["automountServiceAccountToken"] is False
    assert not {"hostNetwork", "hostPID", "hostIPC"} & {key for key, value in spec.items() if value}
    for container in every_container(spec):
        own = container["securityContext"]
        assert own["readOnlyRootFilesystem"] is True, container["name"]
        assert own["allowPrivilegeEscalation"] is False, container["name"]
        assert own["capabilities"] == {"drop": ["ALL"]}, container["name"]
        assert not own.get("privileged") and own.get("runAsUser", 1) != 0, container["name"]
        assert own.get("seccompProfile", {"type": "RuntimeDefault"}) == {"type": "RuntimeDefault"}, container["name"]


def test_what_the_app_writes_is_a_volume(objects):
    spec = pod(objects)
    volumes = {volume["name"] for volume in spec["volumes"]}
    for container in every_container(spec):
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"] if not m.get("readOnly")}
        assert {"/tmp", "/app/instance"} <= mounts.keys(), container["name"]
        assert set(mounts.values()) <= volumes, container["name"]


def test_one_owner_for_the_pod_count_and_selectors_that_find_the_pods(objects):
    deployment, labels = one(objects, "Deployment"), pod_labels(objects)
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    for kind in ("Service", "PodDisruptionBudget"):
        selector = one(objects, kind)["spec"]["selector"]
        assert selector.get("matchLabels", selector).items() <= labels.items(), kind
    autoscalers = of_kind(objects, "HorizontalPodAutoscaler")
    if autoscalers:
        (autoscaler,) = autoscalers
        assert autoscaler["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                                        "name": deployment["metadata"]["name"]}
        assert "replicas" not in deployment["spec"], "the autoscaler owns the count: apply would reset it"
        assert 2 <= autoscaler["spec"]["minReplicas"] <= autoscaler["spec"]["maxReplicas"]
    else:
        assert deployment["spec"]["replicas"] >= 1
    budget = one(objects, "PodDisruptionBudget")["spec"]
    assert budget.get("maxUnavailable", 0) >= 1 or budget["minAvailable"] < deployment["spec"].get("replicas", 2)


def test_production_is_served_by_the_ingress_with_tls(manifests):
    objects = manifests["production"]
    ingress = one(objects, "Ingress")
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"]
    hosts = {rule["host"] for rule in ingress["spec"]["rules"]}
    assert hosts <= {host for tls in ingress["spec"]["tls"] for host in tls["hosts"]}
    assert all(tls["secretName"] for tls in ingress["spec"]["tls"])
    service = one(objects, "Service")
    for rule in ingress["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            backend = path["backend"]["service"]
            assert backend["name"] == service["metadata"]["name"]
            assert backend["port"].get("name") in {p["name"] for p in service["spec"]["ports"]}
    # Only the controller reaches the pods: TRUSTED_PROXIES trusts the network it connects from.
    policy = one(objects, "NetworkPolicy")["spec"]
    assert policy["podSelector"]["matchLabels"].items() <= pod_labels(objects).items()
    assert policy["policyTypes"] == ["Ingress"] and len(policy["ingress"]) == 1
