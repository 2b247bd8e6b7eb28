"""Helpers for tests/compose/mirror.sh, which runs docker/compose.yaml's
services as plain processes.

  mirror_support.py plan CONFIG_YAML OUT_DIR
      CONFIG_YAML is "docker-compose config" output: compose has already
      applied docker/.env (or the defaults that match .env.example). For
      each program service, in start order, writes OUT_DIR/SERVICE.env
      (NUL-separated NAME=VALUE) and prints "SERVICE PROGRAM HEALTH_URL".
      Addresses that only exist inside compose are rewritten to what they
      mean on this machine: another service's name becomes 127.0.0.1 and
      its published port, a secret's /run/secrets path becomes the secret's
      file, a bind-mounted path becomes the host path, and a listen setting
      binds to loopback on the service's published port (a free port when
      it publishes none).

  mirror_support.py check SEED_JSON POST_BLOCK_FILE KCAT_OUTPUT_FILE
      Exits 0 when the kcat output holds the candidate that the README's
      POST names, with every field of its seed record, /Date(...)/ values
      as RFC 3339 UTC. Otherwise prints each difference and exits 1.
"""

import datetime
import json
import re
import socket
import sys

import yaml

LOOPBACK = "127.0.0.1"
DATE_RE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")
RFC3339_UTC_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|\+00:00)$")


def free_port():
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def published_ports(service):
    """{container port: host port} for one service's ports list."""
    ports = {}
    for entry in service.get("ports", []):
        if isinstance(entry, dict):  # compose v2 writes the long syntax
            ports[int(entry["target"])] = int(entry["published"])
            continue
        spec = str(entry).split("/")[0].split(":")
        ports[int(spec[-1])] = int(spec[-2]) if len(spec) > 1 else int(spec[-1])
    return ports


def service_addresses(services):
    """{"kafka:19092": "127.0.0.1:9092", ...} for services publishing one
    port: inside compose any of their ports is reached through it."""
    addresses = {}
    for name, service in services.items():
        ports = published_ports(service)
        if len(ports) == 1:
            addresses[name] = f"{LOOPBACK}:{next(iter(ports.values()))}"
    return addresses


def rewrite_hosts(value, addresses):
    def swap(match):
        return addresses.get(match.group(1), match.group(0))

    return re.sub(r"\b([a-z][a-z0-9-]*):\d+\b", swap, value)


def host_paths(service, secrets):
    """{container path: host path} for the service's secrets and binds."""
    paths = {}
    for entry in service.get("secrets", []):
        source = entry["source"] if isinstance(entry, dict) else entry
        paths[f"/run/secrets/{source}"] = secrets[source]["file"]
    for entry in service.get("volumes", []):
        if isinstance(entry, dict):
            if entry.get("type") == "bind":
                paths[entry["target"]] = entry["source"]
            continue
        parts = str(entry).split(":")
        if len(parts) >= 2 and parts[0].startswith("/"):
            paths[parts[1]] = parts[0]
    return paths


def start_order(services, programs):
    order, seen = [], set()

    def visit(name):
        if name in seen:
            return
        seen.add(name)
        for dep in services[name].get("depends_on", {}):
            if dep in programs:
                visit(dep)
        order.append(name)

    # Services that need no other program go first: the ingest creates the
    # raw topic that the enricher then consumes.
    def program_deps(name):
        return sum(dep in programs for dep in services[name].get("depends_on", {}))

    for name in sorted(programs, key=lambda n: (program_deps(n), n)):
        visit(name)
    return order


def plan_service(service, addresses, secrets):
    ports = published_ports(service)
    paths = host_paths(service, secrets)
    env, health_port = {}, None
    for name, value in (service.get("environment") or {}).items():
        value = str(value)
        if name.endswith("_LISTEN"):
            port = ports.get(int(value.rsplit(":", 1)[-1])) or free_port()
            value, health_port = f"{LOOPBACK}:{port}", port
        else:
            value = paths.get(value, rewrite_hosts(value, addresses))
        env[name] = value
    health = service["healthcheck"]["test"][-1]
    return env, f"http://{LOOPBACK}:{health_port}{health}"


def plan(config_path, out_dir):
    with open(config_path) as f:
        config = yaml.safe_load(f)
    services = config["services"]
    secrets = config.get("secrets", {})
    programs = {name for name, svc in services.items()
                if str(svc.get("image", "")).startswith("hookbridge:")}
    addresses = service_addresses(services)
    for name in start_order(services, programs):
        service = services[name]
        env, health = plan_service(service, addresses, secrets)
        with open(f"{out_dir}/{name}.env", "w") as f:
            f.write("".join(f"{k}={v}\0" for k, v in sorted(env.items())))
        command = service["command"]
        program = command[0] if isinstance(command, list) else command.split()[0]
        print(name, program, health)


def expected_date(text):
    """The instant of a /Date(ms+zone)/ value: the ms count is UTC."""
    match = DATE_RE.match(text)
    ms = int(match.group(1))
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc)


def compare(path, seed, got, problems):
    if isinstance(seed, dict):
        if not isinstance(got, dict):
            problems.append(f"{path}: expected an object, got {got!r}")
            return
        for key, value in seed.items():
            if key not in got:
                problems.append(f"{path}/{key}: missing")
            else:
                compare(f"{path}/{key}", value, got[key], problems)
    elif isinstance(seed, list):
        if not isinstance(got, list) or len(got) != len(seed):
            problems.append(f"{path}: expected {seed!r}, got {got!r}")
            return
        for i, (s, g) in enumerate(zip(seed, got)):
            compare(f"{path}/{i}", s, g, problems)
    elif isinstance(seed, str) and DATE_RE.match(seed):
        want = expected_date(seed)
        if not isinstance(got, str) or not RFC3339_UTC_RE.match(got):
            problems.append(f"{path}: expected RFC 3339 UTC for {seed}, "
                            f"got {got!r}")
        elif datetime.datetime.fromisoformat(
                got.replace("Z", "+00:00")) != want:
            problems.append(f"{path}: {got} is not the instant of {seed} "
                            f"({want.isoformat()})")
    elif seed != got:
        problems.append(f"{path}: expected {seed!r}, got {got!r}")


def json_objects(text):
    for line in text.splitlines():
        start, end = line.find("{"), line.rfind("}")
        if start < 0 or end < start:
            continue
        try:
            value = json.loads(line[start:end + 1])
        except ValueError:
            continue
        if isinstance(value, dict):
            yield value


def check(seed_path, post_path, output_path):
    with open(post_path) as f:
        post = f.read()
    match = re.search(r'"CandidateId"\s*:\s*"?(\d+)', post)
    if match is None:
        print("check: the README's POST names no CandidateId")
        return 1
    cid = match.group(1)
    with open(seed_path) as f:
        seed = json.load(f)["Candidates"][cid]
    with open(output_path) as f:
        output = f.read()
    candidates = [o for o in json_objects(output)
                  if str(o.get("CandidateId")) == cid]
    if not candidates:
        print(f"check: no candidate {cid} in the kcat output:\n{output}")
        return 1
    problems = []
    compare(f"candidate {cid}", seed, candidates[-1], problems)
    for problem in problems:
        print(f"check: {problem}")
    if not problems:
        print(f"check: candidate {cid} enriched with all "
              f"{len(seed)} seeded fields")
    return 1 if problems else 0


def main(argv):
    if len(argv) == 4 and argv[1] == "plan":
        plan(argv[2], argv[3])
        return 0
    if len(argv) == 5 and argv[1] == "check":
        return check(argv[2], argv[3], argv[4])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
