"""Static checks of docker/: what can be verified without a container engine.

No machine that runs the test suite has a container engine, so the images
are never built here. These checks catch what would otherwise only show at
"docker compose up": a compose file the tools reject, settings whose
defaults drift between docker/.env.example and compose.yaml, an image that
would run as root or carry a compiler, and a dashboard that queries metrics
no program exports.
"""

import json
import pathlib
import re
import shutil
import subprocess

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
COMPOSE = DOCKER / "compose.yaml"
ENV_EXAMPLE = DOCKER / ".env.example"
DOCKERFILE = DOCKER / "Dockerfile"
DASHBOARD = DOCKER / "grafana" / "dashboards" / "hookbridge.json"
PROMETHEUS = DOCKER / "prometheus" / "prometheus.yml"

COMPILERS = ("build-essential", "gcc", "g++", "clang", "cmake", "make",
             "pkg-config", "-dev")


def compose_cli():
    tool = shutil.which("docker-compose")
    if tool is None:
        pytest.skip("docker-compose is not installed (tests/run.sh installs it)")
    return tool


def run_config(tmp_path, *options, profile=None):
    # Neither a developer's docker/.env nor exported HOOKBRIDGE_* variables
    # may make a broken default look fine: both are replaced by nothing.
    empty = tmp_path / "empty.env"
    empty.write_text("")
    env = {"PATH": "/usr/bin:/bin:/usr/local/bin"}
    profiles = ["--profile", profile] if profile else []
    return subprocess.run(
        [compose_cli(), "-f", str(COMPOSE), "--env-file", str(empty),
         *profiles, "config", *options],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def env_example():
    """The settings of docker/.env.example as an ordered dict."""
    settings = {}
    for number, line in enumerate(ENV_EXAMPLE.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        assert sep, f".env.example line {number} is not NAME=value: {line!r}"
        assert value, f".env.example line {number}: {name} has no value"
        settings[name] = value
    return settings


def compose_defaults():
    """Every ${NAME:-default} written in compose.yaml, as name -> defaults."""
    found = {}
    for name, default in re.findall(r"\$\{(\w+):-([^}]*)\}",
                                    COMPOSE.read_text()):
        found.setdefault(name, set()).add(default)
    return found


def dockerfile_stages():
    """(FROM line, [instructions]) for each stage, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    stages = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            stages.append((line, []))
        else:
            assert stages, f"instruction before the first FROM: {line!r}"
            stages[-1][1].append(line)
    return stages


def test_compose_file_is_accepted_by_docker_compose(tmp_path):
    result = run_config(tmp_path, "-q")
    assert result.returncode == 0, result.stderr


def test_observability_profile_is_accepted_and_adds_prometheus_and_grafana(
        tmp_path):
    result = run_config(tmp_path, "--services", profile="observability")
    assert result.returncode == 0, result.stderr
    services = set(result.stdout.split())
    assert {"prometheus", "grafana"} <= services
    assert {"kafka", "hrm-api", "ingest", "enricher"} <= services


def test_compose_works_without_a_dot_env_file_and_uses_the_demo_settings(
        tmp_path):
    result = run_config(tmp_path)
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    enricher = config["services"]["enricher"]["environment"]
    assert enricher["HOOKBRIDGE_API_BASE"] == \
        "http://hrm-api:8090/restful.svc/v2/"
    assert "${" not in result.stdout


def test_every_compose_default_is_the_value_in_env_example():
    example = env_example()
    defaults = compose_defaults()
    assert defaults, "compose.yaml has no ${NAME:-default} settings"
    for name, values in defaults.items():
        assert name in example, f"{name} is in compose.yaml, not .env.example"
        assert values == {example[name]}, \
            f"{name}: compose.yaml says {values}, .env.example {example[name]}"


def test_every_env_example_setting_is_used_by_compose():
    unused = set(env_example()) - set(compose_defaults())
    assert not unused, f"set in .env.example but unused by compose: {unused}"


def test_demo_api_accepts_the_key_and_customer_the_enricher_sends():
    example = env_example()
    key_file = DOCKER / example["HRM_API_KEY_FILE"]
    assert key_file.read_text().strip() == example["HOOKBRIDGE_TEST_API_KEY"]
    assert example["HOOKBRIDGE_API_CUSTOMER"] == \
        example["HOOKBRIDGE_TEST_API_CUSTOMER"]


def test_enricher_can_be_scaled_because_it_has_no_fixed_name_or_host_port():
    config = yaml.safe_load(COMPOSE.read_text())
    enricher = config["services"]["enricher"]
    assert "container_name" not in enricher
    assert "ports" not in enricher


def test_kafka_is_published_on_localhost_9092_for_host_tools():
    config = yaml.safe_load(COMPOSE.read_text())
    kafka = config["services"]["kafka"]
    assert "127.0.0.1:9092:9092" in kafka["ports"]
    assert "localhost:9092" in kafka["environment"]["KAFKA_ADVERTISED_LISTENERS"]


def test_prometheus_finds_enricher_replicas_through_dns():
    config = yaml.safe_load(PROMETHEUS.read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    sd = jobs["enricher"]["dns_sd_configs"][0]
    assert sd["names"] == ["enricher"] and sd["port"] == 9100


def test_every_dockerfile_stage_is_based_on_debian_bookworm_slim():
    stages = dockerfile_stages()
    assert len(stages) >= 2, "expected a build stage and a runtime stage"
    for line, _ in stages:
        assert line.split()[1] == "debian:bookworm-slim", line


def test_final_stage_runs_as_a_user_that_is_not_root():
    _, final = dockerfile_stages()[-1]
    users = [line.split()[1] for line in final if line.upper().startswith("USER ")]
    assert users, "the runtime stage has no USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), f"runs as {users[-1]}"


def test_final_stage_has_a_healthcheck():
    _, final = dockerfile_stages()[-1]
    assert any(line.upper().startswith("HEALTHCHECK ") and " CMD " in line
               for line in final)


def test_final_stage_installs_no_compiler_or_headers():
    _, final = dockerfile_stages()[-1]
    for line in final:
        if "apt-get install" not in line:
            continue
        packages = re.split(r"\s+", line.split("apt-get install", 1)[1])
        for pkg in packages:
            pkg = pkg.strip("&;")
            assert not any(pkg == c or (c == "-dev" and pkg.endswith(c))
                           for c in COMPILERS), f"runtime installs {pkg}"


def test_build_stage_runs_the_same_build_as_the_tests():
    _, build = dockerfile_stages()[0]
    text = " ".join(build)
    assert "-DCMAKE_BUILD_TYPE=RelWithDebInfo" in text
    assert "-DHOOKBRIDGE_WERROR=ON" in text
    assert "ctest" in text and "-L unit" in text


def exported_metric_names():
    """Names the programs register, with the prefix metrics.h adds."""
    names = set()
    for source in list(ROOT.glob("ingest/*.c")) + list(ROOT.glob("enricher/*.c")):
        text = source.read_text()
        for name in re.findall(
                r"metrics_(?:counter|gauge|gauge_fn|histogram)\(\s*[^,]+,\s*"
                r"\"(\w+)\"", text):
            names.add("hookbridge_" + name)
    return names


def test_dashboard_queries_only_metrics_the_programs_export():
    dashboard = json.loads(DASHBOARD.read_text())
    exported = exported_metric_names()
    queried = set()
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            queried.update(re.findall(r"hookbridge_\w+", target["expr"]))
    assert queried
    for name in sorted(queried):
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        assert base in exported, f"dashboard queries {name}: not exported"
