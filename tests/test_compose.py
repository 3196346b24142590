"""docker-compose.yml is a valid production deployment. No Docker engine
runs here: the Compose essentials are checked on the parsed YAML, and
`docker compose config -q` runs too when the compose plugin is installed."""
import configparser
import importlib.util
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from ccsuite import config

ROOT = config.ROOT
COMPOSE_FILE = ROOT / 'docker-compose.yml'
TOP_LEVEL = {'version', 'name', 'services', 'networks', 'volumes',
    'configs', 'secrets', 'include'}
SUITE_SERVICES = {'init', 'trytond', 'trytond-cron', 'trytond-worker',
    'bridge', 'router'}
REQUIRED = SUITE_SERVICES | {'postgres', 'asterisk'}
CONDITIONS = {'service_started', 'service_healthy',
    'service_completed_successfully'}
PORT = re.compile(r'^(\d+(-\d+)?:)?\d+(-\d+)?(/(tcp|udp))?$')
IMAGE = re.compile(r'^[a-z0-9]+([._/-][a-z0-9]+)*(:[\w][\w.-]{0,127})?$')


@pytest.fixture(scope='module')
def compose():
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope='module')
def services(compose):
    return compose['services']


def suite_services(services):
    return {n: s for n, s in services.items() if n in SUITE_SERVICES}


def test_top_level_keys_are_compose_keys(compose):
    unknown = {k for k in compose if not k.startswith('x-')} - TOP_LEVEL
    assert unknown == set()


def test_every_service_is_there(services):
    assert REQUIRED <= services.keys()


def test_every_service_has_an_image_or_build(services):
    for name, service in services.items():
        assert 'image' in service or 'build' in service, name
        if 'image' in service:
            assert IMAGE.match(service['image']), (name, service['image'])


def test_postgresql_is_16(services):
    assert services['postgres']['image'].split(':')[1].startswith('16')


def test_depends_on_names_services_without_cycles(services):
    graph = {}
    for name, service in services.items():
        depends = service.get('depends_on', {})
        if isinstance(depends, dict):
            for target, options in depends.items():
                assert options.get('condition', 'service_started') \
                    in CONDITIONS, (name, target)
        graph[name] = set(depends)
        assert graph[name] <= services.keys(), name
        assert name not in graph[name], name
    assert_acyclic(graph)


def assert_acyclic(graph):
    done, visiting = set(), set()

    def visit(node):
        assert node not in visiting, f"dependency cycle through {node}"
        if node in done:
            return
        visiting.add(node)
        for target in graph[node]:
            visit(target)
        visiting.discard(node)
        done.add(node)
    for node in graph:
        visit(node)


def test_suite_waits_for_database_and_init(services):
    for name, service in suite_services(services).items():
        depends = service['depends_on']
        assert depends['postgres']['condition'] == 'service_healthy', name
        if name != 'init':
            assert depends['init']['condition'] == \
                'service_completed_successfully', name
    assert 'healthcheck' in services['postgres']


def test_volumes_are_declared_or_exist(compose, services):
    declared = set(compose.get('volumes') or {})
    for name, service in services.items():
        for volume in service.get('volumes', []):
            source = volume.split(':')[0]
            if source.startswith(('.', '/')):
                assert (ROOT / source).exists(), (name, source)
            else:
                assert source in declared, (name, source)


def test_ports_are_well_formed(services):
    for name, service in services.items():
        for port in service.get('ports', []) + service.get('expose', []):
            assert PORT.match(str(port)), (name, port)


def test_secrets_are_declared(compose, services):
    declared = set(compose.get('secrets') or {})
    for name, service in services.items():
        assert set(service.get('secrets', [])) <= declared, name


def test_suite_services_reach_postgres_service(services):
    for name, service in suite_services(services).items():
        environment = service['environment']
        uri = environment['TRYTOND_DATABASE__URI']
        assert uri.startswith('postgresql://'), name
        assert '@postgres:5432/' in uri, name
        assert environment['TRYTOND_WEB__ROOT'] == '/opt/sao', name
        assert environment['TRYTOND_DATABASE_NAMES'] == 'cc', name


def command_target(command):
    "The module or program a service command runs."
    if command[:2] == ['python', '-m']:
        return 'module', command[2]
    if command[0] == 'python':
        return 'script', command[1]
    return 'program', command[0]


def test_commands_exist(services):
    programs = installed_programs()
    for name, service in suite_services(services).items():
        kind, target = command_target(service['command'])
        if kind == 'module':
            assert importlib.util.find_spec(target), (name, target)
        elif kind == 'script':
            assert (ROOT / target.removeprefix('/opt/cc-suite/')).exists()
        else:
            assert target in programs, (name, target)
        if kind != 'script' and target != 'gunicorn':
            command = service['command']
            assert command[command.index('-d') + 1] == 'cc', name


def installed_programs():
    "Console scripts of the image: trytond's and the Dockerfile's gunicorn."
    from importlib.metadata import distribution
    programs = {e.name for e in distribution('trytond').entry_points
        if e.group == 'console_scripts'}
    if 'gunicorn==' in (ROOT / 'docker' / 'Dockerfile').read_text():
        programs.add('gunicorn')
    return programs


def test_dockerfile_copies_what_exists():
    dockerfile = (ROOT / 'docker' / 'Dockerfile').read_text()
    for line in dockerfile.splitlines():
        if line.startswith('COPY') and '--from=' not in line:
            *sources, _ = line.split()[1:]
            for source in sources:
                assert (ROOT / source).exists(), source
    assert 'tryton-sao@${SAO_VERSION}' in dockerfile
    assert 'ARG SAO_VERSION=8.0.' in dockerfile


def test_container_config_leaves_uri_and_root_to_environment():
    parser = configparser.ConfigParser()
    parser.read(ROOT / 'docker' / 'trytond.conf')
    assert not parser.has_option('database', 'uri')
    assert not parser.has_option('web', 'root')
    assert parser.get('web', 'listen').startswith('0.0.0.0:')
    assert parser.getboolean('queue', 'worker')


def compose_command():
    if shutil.which('docker') and subprocess.run(
            ['docker', 'compose', 'version'],
            capture_output=True).returncode == 0:
        return ['docker', 'compose']
    if shutil.which('docker-compose'):
        return ['docker-compose']
    return None


def test_docker_compose_config_accepts_it(tmp_path):
    command = compose_command()
    if not command:
        pytest.skip("no docker compose plugin nor docker-compose here")
    env = {'PATH': '/usr/bin:/bin:/usr/local/bin',
        'POSTGRES_PASSWORD': 'check-only', 'HOME': str(tmp_path)}
    result = subprocess.run(
        [*command, '-f', str(COMPOSE_FILE), 'config', '-q'],
        cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
