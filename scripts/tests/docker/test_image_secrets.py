"""Secrets left in the tree stay out of both images, and `make build` names them (issue 28).

One copy of the project gets a file for every secret-file pattern of .dockerignore (at the root
and deeper), then `make build` builds the dev and the prod image from it, as a user does: its
one line names each planted file, and neither image's /app holds any of them.
"""

import importlib.util
import subprocess

import pytest

from compose_stack import Stack
from harness import ROOT

# One file per pattern, some at the root and some deeper ("at any depth").
PLANTED = [
    "id_rsa", "app/id_dsa", "deploy/id_ecdsa", "id_ecdsa_sk", "keys/id_ed25519_sk",
    "private.key", "app/deploy/putty.ppk",
    "app/deploy/server.pem", "cert.p12", "cert.pfx", "app/release.jks", "android.keystore",
    ".ssh/id_ed25519", ".aws/credentials", "ops/.azure/msal_token_cache.json",
    ".config/gcloud/application_default_credentials.json", ".gnupg/private-keys-v1.d/A1B2.key",
    ".docker/config.json", ".kube/config",
    ".netrc", "_netrc", ".npmrc", "frontend/.npmrc", ".pypirc", ".git-credentials", ".pgpass", ".my.cnf",
    "app/.htpasswd",
    "passwords.kdbx", "infra/terraform.tfstate", "infra/terraform.tfstate.backup",
    "dump.sql", "db/nightly-backup.sql", "backup.sql.gz", "db.dump", "app/settings.py.bak",
]
# Beside them, files that are no secret and must still be in the images: proof the listing sees /app.
KEPT = ["app/__init__.py", "app/deploy/server.crt", ".docker/README.md", "app/schema.sql"]
PREFIX = "left out of the images (secret-looking files, see .dockerignore): "


def secrets_module():
    spec = importlib.util.spec_from_file_location("secrets_left_out", ROOT / "scripts" / "secrets_left_out.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def named(path: str, names: list[str]) -> bool:
    """The path itself, or a folder above it (the script names a caught folder once, as `.aws/`)."""
    return path in names or any(name.endswith("/") and path.startswith(name) for name in names)


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    s = Stack(tmp_path_factory.mktemp("secrets"))
    for relative in PLANTED + KEPT[1:]:
        path = s.dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"planted by {__name__}\n")
    try:
        yield s, s.dir
    finally:
        s.down()


def test_every_secret_pattern_has_a_planted_file():
    """A pattern added to .dockerignore's secret section without a file here is not tested."""
    rules = [rule for rule in secrets_module().read_rules(ROOT / ".dockerignore") if rule.secret]
    assert len(rules) >= 30, "the secret-files markers of .dockerignore are missing or moved"
    untested = [rule.regex.pattern for rule in rules if not any(rule.matches(path) for path in PLANTED)]
    assert not untested, f"no planted file for: {untested}"


def test_build_names_the_planted_files_and_neither_image_holds_them(planted):
    s, project = planted
    build = subprocess.run(["make", "build"], cwd=project, env=s.env, capture_output=True, text=True, timeout=1200)
    assert build.returncode == 0, build.stdout + build.stderr
    lines = [line for line in (build.stdout + build.stderr).splitlines() if line.startswith(PREFIX)]
    assert len(lines) == 1, build.stdout
    names = lines[0][len(PREFIX):].split(", ")
    assert [path for path in PLANTED if not named(path, names)] == [], lines[0]
    assert [name for name in names if not any(named(path, [name]) for path in PLANTED)] == [], lines[0]

    for target in ("dev", "prod"):
        image = f"{s.name}-web:{target}"
        listing = subprocess.run(["docker", "run", "--rm", "--user", "0", "--entrypoint", "find", image,
                                  "/app", "-mindepth", "1"], capture_output=True, text=True, timeout=120)
        assert listing.returncode == 0, listing.stderr
        in_image = {line.removeprefix("/app/") for line in listing.stdout.splitlines()}
        assert [path for path in KEPT if path not in in_image] == [], f"{target}: the listing misses /app"
        # Each planted file, and each folder the script names (.aws/, .ssh/, ...): not even empty.
        leaked = [path for path in PLANTED + [name.rstrip("/") for name in names] if path in in_image]
        assert leaked == [], f"the {target} image holds {leaked}"
