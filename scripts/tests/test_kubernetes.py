"""The Kubernetes manifests (deploy/kubernetes/): each overlay as `kubectl kustomize` renders it, checked
against the API's schemas, against the image (Dockerfile, docker-compose.yml) and against the settings
registry (devserver/settings.py), and held to the policy a hardened production pod follows.

Rendering needs kubectl (kustomize is built in); no cluster is needed or reached: `kubectl apply -k
--dry-run=client` asks a server for its API first, so nothing here calls it. Without kubectl these
tests skip, except under CI=true, where that is a failure. The schemas are kubernetes-validate's
(requirements-test.txt pins it), in strict mode: an unknown or misspelt field fails as a wrong type does.
Each overlay is rendered from a copy of the tree given the .env.secret a deployer makes, with a
made-up key: the real files are git's to ignore, and these tests never read one.

Two Deployments where the project has a task queue: `web` and the task workers' `worker`
(base/worker.yaml), each held to the same policy, with pods no selector of the other's finds. In the
template, the manifests are also rendered as copier writes them for each answer to TASKS (celery, rq,
none), from copier.yml and the `.jinja` twins.
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

from devserver.settings import SETTING_NAMED, load_settings, parse_task_worker
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
    "REDIS_URL": "the host's 127.0.0.1 by default; here the Redis the user provides in the cluster",
}
WEB, WORKER = "web", "worker"  # the Deployments: the app's server, and the task workers where there is a queue
ANSWERS = ROOT / ".copier-answers.yml"  # in a project made from the template: its answers (`tasks:` among them)


def task_queue() -> str:
    """The project's task queue, copier's `tasks` answer: the template's own is Celery; a project whose
    answers predate the question has none."""
    if not ANSWERS.is_file():
        return "celery"
    answer = re.search(r"(?m)^tasks: (\S+)$", ANSWERS.read_text())
    return answer[1] if answer else "none"


QUEUE = task_queue()
# What a worker pod's grace period has over TASK_GRACE: compose's prod-worker stops within 35 s, 30 + 5.
GRACE_MARGIN = 5


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


def pod(objects: list[dict], name: str = WEB) -> dict:
    """The pod template of the Deployment `name` (the web's unless told)."""
    return one(objects, "Deployment", name)["spec"]["template"]["spec"]


def pod_labels(objects: list[dict], name: str = WEB) -> dict:
    return one(objects, "Deployment", name)["spec"]["template"]["metadata"]["labels"]


def pods(objects: list[dict]) -> dict[str, dict]:
    """Every Deployment's pod template, by the Deployment's name: what the policy holds to, each of them."""
    found = {item["metadata"]["name"]: item["spec"]["template"]["spec"] for item in of_kind(objects, "Deployment")}
    assert WEB in found, sorted(found)
    return found


def worker_pod(objects: list[dict]) -> dict:
    """The task workers' pod template; a project without a task queue has none to check."""
    if QUEUE == "none":
        pytest.skip("this project has no task queue (TASKS=none): no worker")
    return pod(objects, WORKER)


def selects(selector: dict, labels: dict) -> bool:
    """Whether a selector picks a pod with `labels`: a Service's plain map, or a LabelSelector (matchLabels
    and matchExpressions; an empty one picks every pod)."""
    if not {"matchLabels", "matchExpressions"} & selector.keys():
        selector = {"matchLabels": selector}
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        if not {"In": key in labels and labels[key] in values, "NotIn": labels.get(key) not in values,
                "Exists": key in labels, "DoesNotExist": key not in labels}[operator]:
            return False
    return True


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


def expanded(value: str, env: dict[str, str]) -> str:
    """An env value as the kubelet expands it: $(NAME) by a variable defined before it (left as written
    if none is), $$ as a plain $."""
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                  lambda found: "$" if found[0] == "$$" else env.get(found[1], found[0]), value)


def environment_of(container: dict, objects: list[dict]) -> dict[str, str]:
    """What a container's environment gets from its manifests: its ConfigMaps and Secrets (a later source
    wins), then its env, expanded."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env |= one(objects, "ConfigMap", source["configMapRef"]["name"]).get("data", {})
        if "secretRef" in source:
            secret = one(objects, "Secret", source["secretRef"]["name"])
            env |= {key: base64.b64decode(value).decode() for key, value in secret.get("data", {}).items()}
            env |= secret.get("stringData", {})
    for entry in container.get("env", []):
        env[entry["name"]] = expanded(entry.get("value", ""), env)
    return env


def dockerfile(pattern: str) -> set[str]:
    """Every value `pattern` (one group) finds in the Dockerfile, in any stage."""
    found = set(re.findall(pattern, DOCKERFILE, re.MULTILINE))
    assert found, f"the Dockerfile has no line like {pattern!r}"
    return found


def compose_service(name: str) -> dict:
    """A service of docker-compose.yml, its anchors merged (`<<:`), as written (variables unexpanded)."""
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"][name]


def compose_prod_image() -> str:
    """The prod service's image as docker-compose.yml names it, with no .env: its variables' defaults."""
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", compose_service("prod")["image"])


def compose_seconds(duration: str) -> float:
    """A compose duration (`35s`, `1m30s`) in seconds."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", duration)
    assert parts and "".join(number + unit for number, unit in parts) == duration, duration
    return sum(float(number) * units[unit] for number, unit in parts)


def without_url(words: tuple[str, ...]) -> tuple[tuple[str, ...], str | None]:
    """A worker command without its Redis URL option (RQ's --url/-u), and that URL."""
    kept, url, skip = [], None, False
    for index, word in enumerate(words):
        if skip:
            skip = False
        elif word in ("--url", "-u") and index + 1 < len(words):
            url, skip = words[index + 1], True
        elif word.startswith("--url="):
            url = word.split("=", 1)[1]
        else:
            kept.append(word)
    return tuple(kept), url


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


def schema_problems(objects: list[dict], where: str, version: str) -> list[str]:
    """What Kubernetes `version`'s schemas, in strict mode, say of each object: nothing when all are valid."""
    problems = []
    for item in objects:
        name = f"{where}: {item['kind']} {item['metadata']['name']}"
        try:
            validated = kubernetes_validate.validate(item, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            problems.append(f"{name}: {'.'.join(map(str, exc.path))}: {exc.message}")
        except (kubernetes_validate.SchemaNotFoundError, kubernetes_validate.VersionNotSupportedError) as exc:
            problems.append(f"{name}: {exc.message} (the kubernetes-validate requirements-test.txt pins has it)")
        else:
            if validated != version:
                problems.append(f"{name}: validated against {validated}'s schemas, not {version}'s")
    return problems


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_the_manifests_are_valid_kubernetes(objects, overlay, version):
    """Strict: an unknown field (a typo, a field of another version) fails as a wrong type does."""
    need_tools()
    problems = schema_problems(objects, f"overlays/{overlay}", version)
    if problems:  # out of the except: the report is these lines, not the schema that raised them
        pytest.fail(f"not valid for Kubernetes {version}:\n" + "\n".join(problems), pytrace=False)


def test_the_worker_is_there_when_the_project_has_a_task_queue(objects):
    """The task workers' Deployment, and the Redis address the web and the workers share, with a queue only."""
    deployments = sorted(item["metadata"]["name"] for item in of_kind(objects, "Deployment"))
    assert deployments == ([WEB] if QUEUE == "none" else [WEB, WORKER]), (QUEUE, deployments)
    settings = one(objects, "ConfigMap", pod_settings(objects)[0])["data"]
    assert ("REDIS_URL" in settings) == (QUEUE != "none"), QUEUE


def pod_settings(objects: list[dict]) -> list[str]:
    """The ConfigMaps the web's server reads."""
    return [source["configMapRef"]["name"] for source in server(pod(objects))["envFrom"] if "configMapRef" in source]


# -- the manifests agree with the image -----------------------------------------------------------------

def test_the_image_is_the_one_compose_builds_with_a_pinned_tag(objects, overlay):
    built_repository, built_tag, _ = image_parts(compose_prod_image())
    for name, spec in pods(objects).items():
        for container in every_container(spec):
            repository, tag, digest = image_parts(container["image"])
            assert tag or digest, f"{name}: {container['name']}: {container['image']} has no tag"
            assert tag != "latest", f"{name}: {container['name']}: {container['image']}: a tag that moves"
            assert repository.rsplit("/", 1)[-1] == built_repository, (name, container["image"])
            if overlay == "local":  # the image compose has just built, loaded into the cluster as it is
                assert image_parts(container["image"]) == (built_repository, built_tag, None), name


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
    for name, spec in pods(objects).items():
        context = spec["securityContext"]
        assert {str(context["runAsUser"])} == dockerfile(r"^ARG UID=(\d+)$"), name
        assert {str(context["runAsGroup"])} == {str(context["fsGroup"])} == dockerfile(r"^ARG GID=(\d+)$"), name


def image_health_check() -> list[list[str]]:
    return [json.loads(cmd) for cmd in dockerfile(r"^HEALTHCHECK .*\bCMD (\[.*\])$")]


def test_the_probes_are_the_images_health_check(objects):
    check = image_health_check()
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
    settings and writable paths; no Job (deployment.yaml says why). The workers' pods run the web's own
    (worker.yaml says why)."""
    assert [json.loads(e) for e in dockerfile(r"^ENTRYPOINT (\[.*\])$")] == [["python", "/app/scripts/entrypoint.py"]]
    for name, spec in pods(objects).items():
        release, main = release_step(spec), server(spec)
        assert release["args"] == ["release"] and "command" not in release, name
        for field in ("image", "envFrom", "volumeMounts", "securityContext", "resources"):
            assert release[field] == main[field], (name, field)
        assert release == release_step(pod(objects)), f"{name}: a release step other than the web's"
        # One new pod at a time and none of the old gone first: a version's first pod migrates alone, and
        # a new worker consumes before an old one stops.
        strategy = one(objects, "Deployment", name)["spec"]["strategy"]
        assert strategy == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}, name
    assert not of_kind(objects, "Job")


# -- the manifests agree with the settings registry ------------------------------------------------------

def test_every_variable_is_a_declared_setting(objects):
    for item in of_kind(objects, "ConfigMap") + of_kind(objects, "Secret"):
        keys = set(item.get("data", {})) | set(item.get("stringData", {}))
        assert keys <= SETTING_NAMED.keys(), f"{item['metadata']['name']}: {sorted(keys - SETTING_NAMED.keys())}"
    for name, spec in pods(objects).items():
        for container in every_container(spec):
            names = set(environment_of(container, objects))
            assert names <= SETTING_NAMED.keys(), f"{name}: {container['name']}: {sorted(names - SETTING_NAMED.keys())}"
        assert spec["enableServiceLinks"] is False, name  # no WEB_PORT=tcp://… beside them


def test_the_settings_are_production_and_the_grace_period_covers_the_shutdown(objects):
    spec = pod(objects)
    env = environment_of(server(spec), objects)
    assert environment_of(release_step(spec), objects) == env
    settings = load_settings(env, cwd=ROOT)  # a ConfigError here is what the pod would say at start
    assert settings.production and not settings.debug and settings.secret_key
    assert "WEB_CONCURRENCY" in env, CHOSEN_FOR_KUBERNETES["WEB_CONCURRENCY"]
    assert settings.trusted_proxies, "no TRUSTED_PROXIES: behind the ingress every client would be the controller"
    assert not settings.task_worker, "the web's pods run a task worker instead of the server"
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


# -- the task workers ----------------------------------------------------------------------------------------

def test_the_worker_runs_the_queues_own_worker_command_as_compose_production_does(objects):
    """TASK_WORKER (the image's entrypoint runs it in the server's place: no command or args of its own),
    the command compose's prod-worker runs, on the Redis the web's pods queue to."""
    spec = worker_pod(objects)
    worker = server(spec)
    assert "command" not in worker and "args" not in worker, "the entrypoint would run these, not TASK_WORKER"
    assert "ports" not in worker, "a task worker serves nothing"
    env = environment_of(worker, objects)
    words = parse_task_worker("TASK_WORKER", env["TASK_WORKER"])  # a ConfigError: what the pod would say at start
    assert words and words[0] == QUEUE, (QUEUE, words)
    settings = load_settings(env, cwd=ROOT)
    assert settings.production and settings.task_worker == words
    compose = parse_task_worker("TASK_WORKER", compose_service("prod-worker")["environment"]["TASK_WORKER"])
    command, url = without_url(words)
    assert command == without_url(compose)[0], f"{words} is not compose's prod-worker {compose}"
    # RQ's worker reads its Redis from --url alone: it must be the one the web's pods queue to.
    assert url in (None, env["REDIS_URL"]), f"the worker consumes {url}, the web queues to {env['REDIS_URL']}"
    assert url or QUEUE != "rq", "an RQ worker without --url consumes the Redis of its own 127.0.0.1"
    assert env["REDIS_URL"] == environment_of(server(pod(objects)), objects)["REDIS_URL"]


def test_a_stopping_worker_has_task_graces_time_and_a_margin(objects):
    """The queue's warm shutdown finishes the running tasks, bounded by the grace period alone."""
    spec = worker_pod(objects)
    settings = load_settings(environment_of(server(spec), objects), cwd=ROOT)
    assert spec["terminationGracePeriodSeconds"] >= settings.task_grace + GRACE_MARGIN, settings.task_grace


def test_the_workers_probes_are_the_images_health_check_asked_as_compose_asks_it(objects):
    """The image's check, which in a task worker asks the queue for this pod's worker: asked as seldom, and
    given as long, as compose's prod-worker gives it (it loads the queue's client, a second or two of CPU)."""
    worker = server(worker_pod(objects))
    compose = compose_service("prod-worker")["healthcheck"]
    interval, timeout = compose_seconds(compose["interval"]), compose_seconds(compose["timeout"])
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert probe in worker, f"the worker has no {probe}"  # readiness: what a rollout waits for
        assert [worker[probe]["exec"]["command"]] == image_health_check(), probe
        assert worker[probe]["timeoutSeconds"] >= timeout, f"{probe}: less time than compose gives the check"
    for probe in ("readinessProbe", "livenessProbe"):
        assert worker[probe]["periodSeconds"] >= interval, f"{probe}: asked more often than compose asks"
    startup = worker["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= compose_seconds(compose["start_period"])


def test_the_worker_count_is_fixed_and_no_autoscaler_owns_it(objects):
    """Replicas in the manifests (worker.yaml says why no autoscaler): at least one, and none scaled by CPU."""
    worker_pod(objects)
    assert one(objects, "Deployment", WORKER)["spec"]["replicas"] >= 1
    autoscalers = of_kind(objects, "HorizontalPodAutoscaler")
    assert WORKER not in {autoscaler["spec"]["scaleTargetRef"]["name"] for autoscaler in autoscalers}


# -- policy: what every production pod here must be --------------------------------------------------------

def test_every_container_has_requests_and_limits(objects):
    for name, spec in pods(objects).items():
        for container in every_container(spec):
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container.get("resources", {}).get(bound, {})), (
                    name, container["name"], bound)


def test_nothing_runs_as_root_or_with_privileges(objects):
    for name, spec in pods(objects).items():
        context = spec["securityContext"]
        assert context["runAsNonRoot"] is True and context["runAsUser"] != 0, name
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert spec["automountServiceAccountToken"] is False, name
        assert not {"hostNetwork", "hostPID", "hostIPC"} & {key for key, value in spec.items() if value}, name
        for container in every_container(spec):
            where, own = (name, container["name"]), container["securityContext"]
            assert own["readOnlyRootFilesystem"] is True, where
            assert own["allowPrivilegeEscalation"] is False, where
            assert own["capabilities"] == {"drop": ["ALL"]}, where
            assert not own.get("privileged") and own.get("runAsUser", 1) != 0, where
            assert own.get("seccompProfile", {"type": "RuntimeDefault"}) == {"type": "RuntimeDefault"}, where


def test_what_the_app_writes_is_a_volume(objects):
    for name, spec in pods(objects).items():
        volumes = {volume["name"]: volume for volume in spec["volumes"]}
        assert volumes["tmp"]["emptyDir"]["medium"] == "Memory", name  # compose's tmpfs
        for container in every_container(spec):
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"] if not m.get("readOnly")}
            assert {"/tmp", "/app/instance"} <= mounts.keys(), (name, container["name"])
            assert set(mounts.values()) <= volumes.keys(), (name, container["name"])


def test_one_owner_for_the_pod_count(objects):
    deployment = one(objects, "Deployment", WEB)
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


def test_each_selector_finds_its_own_pods_and_no_others(objects):
    """A Deployment's selector, its spread's, the web's Service, budget and autoscaler (which measures the pods
    its target selects) find the pods they are for: a worker pod the web's Service found would be sent
    requests, one the web's Deployment found would be counted in its replicas and its CPU."""
    labels = {name: pod_labels(objects, name) for name in pods(objects)}

    def found_by(selector: dict) -> set[str]:
        return {name for name, pod_labels_ in labels.items() if selects(selector, pod_labels_)}

    for name, spec in pods(objects).items():
        assert found_by(one(objects, "Deployment", name)["spec"]["selector"]) == {name}, name
        for spread in spec.get("topologySpreadConstraints", []):
            assert found_by(spread["labelSelector"]) == {name}, f"{name}: its spread counts other pods"
    assert found_by(one(objects, "Service")["spec"]["selector"]) == {WEB}
    assert found_by(one(objects, "PodDisruptionBudget")["spec"]["selector"]) == {WEB}
    for autoscaler in of_kind(objects, "HorizontalPodAutoscaler"):
        target = one(objects, "Deployment", autoscaler["spec"]["scaleTargetRef"]["name"])
        assert found_by(target["spec"]["selector"]) == {WEB}
    for policy in of_kind(objects, "NetworkPolicy"):
        assert found_by(policy["spec"]["podSelector"]) == {policy["metadata"]["name"]}, policy["metadata"]["name"]


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
    policy = one(objects, "NetworkPolicy", WEB)["spec"]
    assert selects(policy["podSelector"], pod_labels(objects))
    assert policy["policyTypes"] == ["Ingress"] and len(policy["ingress"]) == 1


def test_in_production_nothing_reaches_the_workers(manifests):
    """A task worker takes its tasks from Redis and listens on nothing: its pods let no connection in."""
    objects = manifests["production"]
    worker_pod(objects)
    labels = pod_labels(objects, WORKER)
    policies = [p["spec"] for p in of_kind(objects, "NetworkPolicy") if selects(p["spec"]["podSelector"], labels)]
    assert policies, "no NetworkPolicy holds the workers' pods: anything in the cluster may connect to them"
    for policy in policies:
        assert "Ingress" in policy["policyTypes"] and not policy.get("ingress"), policy


# -- what copier writes: a project's manifests for each task queue ------------------------------------------

QUEUE_WORDS = {"celery": ("celery", "Celery"), "rq": ("rq worker", "RQ"), "none": ()}


@pytest.fixture(scope="module", params=["celery", "rq", "none"])
def made(request, tmp_path_factory) -> tuple[str, Path]:
    """(TASKS, deploy/kubernetes) as copier writes it for a project named shop answering TASKS: copier.yml,
    the twins' macros and this tree, a template of their own (nothing else of the template renders here),
    each overlay given its .env.secret."""
    if not (ROOT / "copier.yml").is_file():
        pytest.skip("a project made from the template: its manifests are rendered already")
    copier = pytest.importorskip("copier", reason="copier (requirements-dev.txt: the template's host tools)")
    tasks, base = request.param, tmp_path_factory.mktemp(f"made-{request.param}")
    template = base / "template"
    (template / "scripts" / "template").mkdir(parents=True)
    shutil.copy(ROOT / "copier.yml", template / "copier.yml")
    shutil.copy(ROOT / "scripts" / "template" / "generated.jinja", template / "scripts" / "template")
    tree_copy(template / "deploy" / "kubernetes", secrets=False)
    copier.run_copy(str(template), base / "shop", data={"project_name": "shop", "tasks": tasks}, defaults=True,
                    quiet=True)
    tree = base / "shop" / "deploy" / "kubernetes"
    for overlay in OVERLAYS:
        (tree / "overlays" / overlay / SECRET_FILE).write_text(MADE_UP_SECRET)
    return tasks, tree


def test_a_made_project_gets_its_queues_worker_and_nothing_of_the_others(made):
    tasks, tree = made
    need_tools()
    files = {path.relative_to(tree).as_posix(): path.read_text() for path in tree.rglob("*") if path.is_file()}
    own_name = image_parts(compose_prod_image())[0].removesuffix("-web")  # the template's, in its image's name
    assert ("base/worker.yaml" in files) == (tasks != "none"), sorted(files)
    assert not [name for name in files if name.endswith(".jinja")]
    for name, text in files.items():
        assert not re.search(r"(?m)^\s*(#|<!--).*\b[\w-]+:(begin|end)\b", text), f"{name}: a marker left"
        assert own_name not in text, f"{name}: the template's name, {own_name}"
        others = [word for queue, words in QUEUE_WORDS.items() if queue != tasks for word in words if word in text]
        assert not others, f"{name} (TASKS={tasks}): {others}"
        if tasks == "none":
            assert not re.search(r"(?i)redis|worker\.yaml|/tasks/", text), f"{name}: TASKS=none"
    for overlay in OVERLAYS:
        objects = [item for item in yaml.safe_load_all(render(tree, overlay)) if item]
        problems = schema_problems(objects, f"TASKS={tasks} overlays/{overlay}", KUBERNETES_VERSIONS[-1])
        assert not problems, "\n".join(problems)
        names = {(item["kind"], item["metadata"]["name"]) for item in objects}
        data = one(objects, "ConfigMap", pod_settings(objects)[0])["data"]
        assert image_parts(server(pod(objects))["image"])[0].rsplit("/", 1)[-1] == "shop-web"
        if tasks == "none":
            assert ("Deployment", WORKER) not in names and ("NetworkPolicy", WORKER) not in names, overlay
            assert "REDIS_URL" not in data, overlay
            continue
        worker = server(pod(objects, WORKER))
        assert image_parts(worker["image"])[0].rsplit("/", 1)[-1] == "shop-web"
        env = environment_of(worker, objects)
        words = parse_task_worker("TASK_WORKER", env["TASK_WORKER"])
        assert words[0] == tasks, words
        if tasks == "rq":  # uncommented, on the Redis the web queues to
            assert [e for e in worker["env"] if e["name"] == "TASK_WORKER"] == [
                {"name": "TASK_WORKER", "value": "rq worker --url $(REDIS_URL)"}]
            assert without_url(words) == (("rq", "worker"), data["REDIS_URL"])
    if tasks == "rq":  # its comment kept, one `#` taken off
        assert "\n            # RQ's worker reads no REDIS_URL" in files["base/worker.yaml"]
