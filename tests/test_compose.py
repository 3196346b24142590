"""docker-compose.yml is a valid production deployment. No Docker engine
runs here: the Compose essentials are checked on the parsed YAML, and
`docker compose config -q` runs too when the compose plugin is installed."""
import ast
import configparser
import importlib.util
import re
import shutil
import subprocess
from dataclasses import dataclass, field
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


# -- Asterisk configuration (docker/asterisk) ---------------------------------
# Asterisk cannot run here: its files are parsed and checked against what
# the router, the bridge, the console and the demo center rely on.

ASTERISK_DIR = ROOT / 'docker' / 'asterisk'
# Asterisk's queue strategies (queues.conf "strategy").
ASTERISK_STRATEGIES = {'ringall', 'leastrecent', 'fewestcalls', 'random',
    'rrmemory', 'linear', 'wrandom'}
# Ours that Asterisk lacks, as cc.queue's help says: the router picks the
# best skilled agent, the queue rings linearly.
STRATEGY_FALLBACK = {'skills_weighted': 'linear'}
# Class (manager.conf read) of each AMI event the tracker handles.
EVENT_CLASSES = {
    'Newchannel': 'call', 'Hangup': 'call', 'VarSet': 'dialplan',
    'DialBegin': 'call', 'DialEnd': 'call', 'Newstate': 'call',
    'Cdr': 'cdr', 'BridgeEnter': 'call', 'BridgeLeave': 'call',
    'Hold': 'call', 'Unhold': 'call', 'BlindTransfer': 'call',
    'AttendedTransfer': 'call', 'QueueCallerJoin': 'agent',
    'QueueCallerLeave': 'agent', 'QueueCallerAbandon': 'agent',
    'AgentCalled': 'agent', 'AgentConnect': 'agent',
    'AgentRingNoAnswer': 'agent', 'AgentComplete': 'agent',
    'AgentDump': 'agent', 'QueueMemberAdded': 'agent',
    'QueueMemberRemoved': 'agent', 'QueueMemberPause': 'agent',
    'QueueMemberStatus': 'agent', 'FullyBooted': 'system',
    }
# Classes (manager.conf write) that allow each AMI action, any one of them
# (manager.c checks writeperm & authority); None: no class needed.
ACTION_CLASSES = {
    'Login': None, 'Logoff': None, 'Ping': None, 'QueueStatus': None,
    'QueueSummary': None, 'CoreStatus': {'system', 'reporting'},
    'CoreShowChannels': {'system', 'reporting'},
    'QueueAdd': {'agent'}, 'QueueRemove': {'agent'},
    'QueuePause': {'agent'}, 'Originate': {'originate'},
    'Hangup': {'system', 'call'}, 'Redirect': {'call'},
    'BlindTransfer': {'call'}, 'Atxfer': {'call'},
    'PJSIPNotify': {'system'},
    'Setvar': {'call'}, 'Getvar': {'call', 'reporting'},
    'MixMonitor': {'system'}, 'StopMixMonitor': {'system', 'call'},
    'MuteAudio': {'system'},
    }
# ChanSpy()'s option letters (app_chanspy.c spy_opts).
CHANSPY_OPTIONS = set('bBcdeEgnoqrsSuvwWxX')


def conf_entries(path):
    """(section, key, value) of an Asterisk .conf file; a section header is
    (section, None, its templates). Comments (';') are dropped."""
    section = None
    for raw in path.read_text().splitlines():
        line = re.sub(r'(?<!\\);.*', '', raw).strip()
        if not line:
            continue
        header = re.fullmatch(r'\[([^\]]+)\](?:\(([^)]*)\))?', line)
        if header:
            section = header.group(1)
            yield section, None, header.group(2) or ''
            continue
        entry = re.fullmatch(r'([^=]+?)\s*=>?\s*(.*)', line)
        assert entry and section, (path.name, raw)
        yield section, entry.group(1), entry.group(2)


def conf_sections(path):
    """{section: [(key, value)]} with templates resolved ("(!)" marks a
    template, "(name)" inherits its options first)."""
    sections, templates = {}, {}
    for section, key, value in conf_entries(path):
        if key is None:
            names = [n.strip() for n in value.split(',') if n.strip()]
            inherited = [option for name in names if name != '!'
                for option in templates[name]]
            options = list(inherited)
            (templates if '!' in names else sections)[section] = options
            templates.setdefault(section, options)
        else:
            (sections.get(section) if section in sections
                else templates[section]).append((key, value))
    return sections


def options(section):
    "The last value of each key (the one Asterisk keeps)."
    return {key: value for key, value in section}


@dataclass
class Step:
    priority: int
    label: str | None
    app: str
    args: str


@dataclass
class Context:
    extensions: dict = field(default_factory=dict)  # exten -> [Step]
    includes: list = field(default_factory=list)
    variables: dict = field(default_factory=dict)


def parse_dialplan(path):
    """{context: Context} of an extensions.conf: ``exten =>``/``same =>``
    lines as numbered steps (``n`` counts on, ``n(label)`` labels),
    ``include =>`` and plain ``name = value`` ([globals])."""
    contexts, last = {}, None
    for section, key, value in conf_entries(path):
        context = contexts.setdefault(section, Context())
        if key is None:
            continue
        if key == 'exten':
            last, priority, command = value.split(',', 2)
            steps = context.extensions.setdefault(last, [])
        elif key == 'same':
            priority, command = value.split(',', 1)
            steps = context.extensions[last]
        elif key == 'include':
            context.includes.append(value)
            continue
        else:
            context.variables[key] = value
            continue
        number = re.fullmatch(r'(\d+|n)(?:\((\w+)\))?', priority)
        assert number, (section, value)
        count = (int(number.group(1)) if number.group(1) != 'n'
            else steps[-1].priority + 1)
        call = re.fullmatch(r'(\w+)(?:\((.*)\))?', command)
        assert call, (section, value)
        steps.append(Step(count, number.group(2), call.group(1),
                call.group(2) or ''))
    return contexts


def pattern_regex(pattern):
    "Python regex of an Asterisk extension (``_`` pattern or literal)."
    if not pattern.startswith('_'):
        return re.escape(pattern)
    classes = {'X': '[0-9]', 'Z': '[1-9]', 'N': '[2-9]', '.': '.+',
        '!': '.*'}
    regex, i = '', 1
    while i < len(pattern):
        char = pattern[i]
        if char.upper() in classes:
            regex += classes[char.upper()]
        elif char == '[':
            end = pattern.index(']', i)
            regex += pattern[i:end + 1]
            i = end
        else:
            regex += re.escape(char)
        i += 1
    return regex


def extension_for(dialplan, context, exten, seen=()):
    "Steps that ``exten`` runs in ``context`` (includes followed), or None."
    found = dialplan.get(context)
    if found is None or context in seen:
        return None
    if exten in found.extensions:
        return found.extensions[exten]
    for pattern, steps in found.extensions.items():
        if re.fullmatch(pattern_regex(pattern), exten):
            return steps
    for included in found.includes:
        steps = extension_for(dialplan, included, exten, (*seen, context))
        if steps is not None:
            return steps
    return None


def first(steps, predicate):
    "Index of the first step that satisfies predicate (None: none does)."
    return next((i for i, step in enumerate(steps) if predicate(step)), None)


def app(name, args_start=''):
    return lambda step: (step.app == name
        and step.args.startswith(args_start))


def router_actions():
    """Every CC_ACTION routing.py can answer: the strings it assigns to a
    decision's ``action`` and the Decision default, read from its code."""
    from trytond.modules.cc_telephony import routing
    tree = ast.parse(Path(routing.__file__).read_text())
    actions = set()
    for node in ast.walk(tree):
        pairs = []
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Tuple) and isinstance(
                        node.value, ast.Tuple):
                    pairs += zip(target.elts, node.value.elts)
                else:
                    pairs.append((target, node.value))
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            pairs.append((node.target, node.value))
        for target, value in pairs:
            name = getattr(target, 'attr', getattr(target, 'id', None))
            if name == 'action' and isinstance(value, ast.Constant):
                actions.add(value.value)
    return actions


def demo_queues():
    "{code: cc.queue values} of the demo center."
    from ccsuite import demo_telephony
    skills = {code: 1 for code, _ in demo_telephony.SKILLS}
    return {row[0]: demo_telephony._queue_values(row, skills)
        for row in demo_telephony.QUEUES}


@pytest.fixture(scope='module')
def dialplan():
    return parse_dialplan(ASTERISK_DIR / 'extensions.conf')


@pytest.fixture(scope='module')
def dialplan_globals(dialplan):
    return dialplan['globals'].variables


def test_asterisk_service_mounts_every_config_file(services):
    volumes = services['asterisk']['volumes']
    files = sorted(p.name for p in ASTERISK_DIR.iterdir()
        if p.is_file() and not p.name.startswith('.'))
    assert {'extensions.conf', 'manager.conf', 'queues.conf',
        'cdr_manager.conf'} <= set(files)
    for name in files:
        assert (f'./docker/asterisk/{name}:/etc/asterisk/{name}:ro'
            in volumes), name


def test_dialplan_parser_reads_steps_and_labels(tmp_path):
    conf = tmp_path / 'extensions.conf'
    conf.write_text('[a]\nexten => _X.,1,NoOp(x\\;y) ; comment\n'
        ' same => n(here),Set(A=${IF($[1]?b:c)})\n'
        ' same => n,Hangup()\ninclude => b\n[b]\nexten => s,1,Answer\n')
    plan = parse_dialplan(conf)
    steps = plan['a'].extensions['_X.']
    assert [(s.priority, s.label, s.app) for s in steps] == [
        (1, None, 'NoOp'), (2, 'here', 'Set'), (3, None, 'Hangup')]
    assert steps[0].args == 'x\\;y'
    assert steps[1].args == 'A=${IF($[1]?b:c)}'
    assert extension_for(plan, 'a', 's') == plan['b'].extensions['s']
    assert extension_for(plan, 'a', '10086') == steps
    assert extension_for(plan, 'a', '1') is None


def test_inbound_contexts_ask_the_router(services, dialplan,
        dialplan_globals):
    import inspect

    from ccsuite import demo_telephony
    from trytond.modules.cc_telephony import pbx, tracker
    contexts = set(pbx.Pbx.default_inbound_contexts().split(',')) | set(
        inspect.signature(tracker.Tracker).parameters[
            'inbound_contexts'].default)
    router = services['router']
    port = router['command'][router['command'].index('--listen') + 1]
    port = port.rsplit(':', 1)[1]
    assert dialplan_globals['CC_ROUTER'] == f'agi://router:{port}/route'
    assert port in router['expose']
    for context in contexts:
        for dnis, *_ in demo_telephony.DNIS:
            steps = extension_for(dialplan, context, dnis)
            assert steps, (context, dnis)
            agi = first(steps, app('AGI', '${CC_ROUTER}'))
            assert agi is not None, (context, dnis)
            # Nothing answers before the router: a rejected caller is
            # refused, not answered and hung up.
            assert first(steps[:agi], app('Answer')) is None
            goto = first(steps, app('Goto', 'cc-route,'))
            assert goto is not None and goto > agi, (context, dnis)
            assert '${CC_ACTION}' in steps[goto].args


def test_every_router_action_has_a_branch(dialplan):
    from trytond.modules.cc_telephony import call
    actions = router_actions()
    # The reading of routing.py still finds its actions.
    assert {'queue', 'reject', 'voicemail', 'night'} <= actions
    assert actions <= {code for code, _ in call.ACTIONS if code}
    route = dialplan['cc-route'].extensions
    for action in actions:
        assert action in route, action
    # An unknown action (Goto to a missing extension) and no answer at all.
    assert 'i' in route and 'fallback' in route


def test_every_router_variable_is_read(dialplan):
    from trytond.modules.cc_telephony import routing
    text = (ASTERISK_DIR / 'extensions.conf').read_text()
    variables = routing.Decision(mailbox='box').variables()
    for name in variables:
        assert '${%s}' % name in text, name


def test_preferred_agent_is_rung_before_the_queue(dialplan,
        dialplan_globals):
    steps = dialplan['cc-route'].extensions['queue']
    dial = first(steps, app('Dial', '${CC_AGENT},${CC_AFFINITY_RING}'))
    queue = first(steps, app('Queue', '${CC_QUEUE}'))
    assert dial is not None and queue is not None and dial < queue
    skip = first(steps, lambda s: s.app == 'GotoIf'
        and '${CC_AGENT}' in s.args)
    assert skip is not None and skip < dial
    assert int(dialplan_globals['CC_AFFINITY_RING']) > 0
    announce = first(steps, lambda s: '${CC_ANNOUNCE}' in s.args
        and 'Playback(${CC_ANNOUNCE})' in s.args)
    assert announce is not None and announce < dial
    priority = first(steps, app('Set', 'QUEUE_PRIO=${CC_PRIORITY}'))
    assert priority is not None and dial < priority < queue
    # Transfers to a queue enter after the preferred agent.
    assert steps[priority].label == 'enqueue'
    record = first(steps, app('Gosub', 'cc-record,'))
    assert record is not None and record < dial


def test_queue_wait_limit_and_overflow_come_from_the_router(dialplan):
    steps = dialplan['cc-route'].extensions['queue']
    queue = first(steps, app('Queue', '${CC_QUEUE}'))
    assert steps[queue].args.split(',')[4] == '${CC_TIMEOUT}'
    rest = steps[queue + 1:]
    overflow = first(rest, app('Set', 'CC_QUEUE=${CC_OVERFLOW}'))
    assert overflow is not None
    test = first(rest, lambda s: s.app == 'GotoIf'
        and '${CC_OVERFLOW}' in s.args)
    assert test is not None and test < overflow
    # No limit in the overflow queue (no ping-pong), then queue again.
    again = rest[overflow:]
    unlimited = first(again, app('Set', 'CC_TIMEOUT='))
    assert unlimited is not None and again[unlimited].args == 'CC_TIMEOUT='
    goto = first(again, app('Goto'))
    assert goto is not None and goto > unlimited
    assert again[goto].args == 'enqueue'
    # A transfer into a queue does not keep the first queue's limit.
    transfer = extension_for(dialplan, 'cc-queue', 'complaints')
    cleared = {s.args for s in transfer if s.app == 'Set'}
    assert {'CC_TIMEOUT=', 'CC_OVERFLOW='} <= cleared
    assert transfer[-1].args == 'cc-route,queue,enqueue'


def test_night_service_branches(dialplan):
    route = dialplan['cc-route'].extensions
    night = ' '.join(f'{s.app}({s.args})' for s in route['night'])
    assert '"${CC_TARGET}" = "voicemail"' in night
    assert '?voicemail,1' in night and '?ivr,1' in night
    assert '"${CC_QUEUE}" != ""]?queue,1' in night
    ivr = route['ivr']
    assert 'DIALPLAN_EXISTS(cc-ivr,${CC_TARGET},1)' in ivr[0].args
    assert '?cc-ivr,${CC_TARGET},1' in ivr[0].args
    # The suite's own menus: the router's ivr script, then its answer.
    assert any(p.app == 'AGI' and p.args.startswith('${CC_ROUTER_IVR}/')
        for p in ivr)
    assert ivr[-1].app == 'Goto' and 'cc-route' in ivr[-1].args
    assert dialplan['cc-ivr'].extensions
    callback = ' '.join(f'{s.app}({s.args})' for s in route['callback'])
    assert 'Read(' in callback and '?queue,1' in callback


def test_voicemail_is_the_last_application(dialplan):
    from trytond.modules.cc_telephony import tracker
    steps = dialplan['cc-route'].extensions['voicemail']
    # The bridge reads the result from the Cdr's LastApplication.
    source = Path(tracker.__file__).read_text()
    assert "'LastApplication'" in source and "'voicemail'" in source
    assert steps[-1].app == 'VoiceMail'


def test_voicemail_boxes_exist(dialplan_globals):
    boxes = {f'{key}@{section}'
        for section, entries in conf_sections(
            ASTERISK_DIR / 'voicemail.conf').items()
        if section != 'general' for key, _ in entries}
    assert dialplan_globals['CC_DEFAULT_MAILBOX'] in boxes
    for code, values in demo_queues().items():
        assert values['voicemail_box'] in boxes, code


def test_reject_uses_the_cause_the_bridge_reads(dialplan):
    from trytond.modules.cc_telephony import tracker
    steps = dialplan['cc-route'].extensions['reject']
    assert [(s.app, s.args) for s in steps] == [
        ('Hangup', tracker.CAUSE_CALL_REJECTED)]


def test_recording_reaches_the_cdr_user_field(dialplan):
    from trytond.modules.cc_telephony import tracker
    from trytond.modules.cc_telephony.pbxsim import engine
    steps = dialplan['cc-record'].extensions['s']
    monitor = first(steps, app('MixMonitor', '${CC_RECORDING}'))
    user_field = first(steps, app('Set', 'CDR(userfield)=${CC_RECORDING}'))
    assert monitor is not None and user_field is not None
    assert "cdr.get('UserField')" in Path(tracker.__file__).read_text()
    # The simulator fills the Cdr's UserField from the same variable.
    simulated = re.findall(r"UserField=channel\.variables\.get\('(\w+)'",
        Path(engine.__file__).read_text())
    assert simulated == ['CC_RECORDING']
    dialled = extension_for(dialplan, 'from-internal', '13800138000')
    assert first(dialled, app('Gosub', 'cc-record,')) == 0


def mounted_volume(service, target):
    "(volume, options) a service mounts at ``target``, or None."
    for volume in service.get('volumes', []):
        source, path, *options = volume.split(':')
        if path == target:
            return source, options
    return None


def test_trytond_reads_the_folder_asterisk_records_into(
        compose, services, dialplan_globals):
    "Recordings are played from the web server: it mounts MixMonitor's folder"
    from trytond.modules.cc_telephony import recording
    folder = dialplan_globals['CC_RECORDINGS']
    assert folder == recording.ASTERISK_MONITOR
    volume, options = mounted_volume(services['asterisk'], folder)
    assert volume in compose['volumes'] and options == []
    assert mounted_volume(services['trytond'], folder) == (volume, ['ro'])


def test_console_contexts_exist(dialplan):
    from ccsuite import demo_telephony
    from trytond.modules.cc_telephony import console
    doc = (ROOT / 'addons' / 'cc_telephony' / 'doc' / 'console.rst'
        ).read_text()
    contexts = {value for name, value in vars(console).items()
        if name.endswith('_CONTEXT')}
    assert {'from-internal', 'cc-queue', 'cc-conference'} <= contexts
    contexts |= set(re.findall(r'Local/\S+?@([\w-]+)', doc))
    contexts |= set(re.findall(r'``(cc-[\w-]+)``', doc))
    for context in contexts:
        assert context in dialplan, context
    extensions = [row[1] for row in demo_telephony.AGENTS]
    for code in demo_queues():
        assert extension_for(dialplan, console.QUEUE_CONTEXT, code), code
    assert extension_for(dialplan, console.CONFERENCE_CONTEXT, 'cc12')
    for number in [*extensions, '13800138000', '01012345678']:
        assert extension_for(dialplan, console.DIAL_CONTEXT, number), number
    for extension in extensions:
        assert extension_for(dialplan, 'agents', extension), extension


def test_supervisor_spy_options_are_chanspy_options():
    from trytond.modules.cc_telephony import console
    for mode, letters in console.SPY_OPTIONS.items():
        assert set(letters) <= CHANSPY_OPTIONS, mode
        assert 'E' in letters and 'q' in letters, mode
    assert not set('wB') & set(console.SPY_OPTIONS['listen'])
    assert 'w' in console.SPY_OPTIONS['whisper']
    assert 'B' in console.SPY_OPTIONS['barge']


def ami_actions():
    "AMI actions the bridge and the console send, read from their code."
    folder = ROOT / 'addons' / 'cc_telephony'
    actions = set()
    for name in ('ami.py', 'amiaction.py', 'bridge.py', 'console.py'):
        text = (folder / name).read_text()
        actions |= set(re.findall(r"\('([A-Z]\w+)', \{", text))
        actions |= set(re.findall(r"action\(\s*'([A-Z]\w+)'", text))
        actions |= set(re.findall(r"_ask\(client, '([A-Z]\w+)'\)", text))
    return actions


def tracker_events():
    from trytond.modules.cc_telephony import tracker
    return {name.removeprefix('_on_') for name in vars(tracker.Tracker)
        if name.startswith('_on_')}


@pytest.fixture(scope='module')
def manager():
    return conf_sections(ASTERISK_DIR / 'manager.conf')


def test_manager_timestamps_events(manager, services):
    general = options(manager['general'])
    assert general['enabled'] == 'yes'
    assert general['timestampevents'] == 'yes'
    assert general['port'] in services['asterisk']['expose']


def test_manager_user_reads_and_writes_what_the_suite_uses(manager):
    events, actions = tracker_events(), ami_actions()
    assert {'Cdr', 'VarSet', 'AgentCalled'} <= events
    assert {'Originate', 'QueueStatus', 'CoreShowChannels'} <= actions
    users = {name: options(entries) for name, entries in manager.items()
        if name != 'general'}
    assert users
    for name, user in users.items():
        read = set(user['read'].replace(' ', '').split(','))
        write = set(user['write'].replace(' ', '').split(','))
        for event in events:
            assert EVENT_CLASSES[event] in read, (name, event)
        for action in actions:
            allowed = ACTION_CLASSES[action]
            assert allowed is None or allowed & write, (name, action)


def test_manager_event_filters_keep_what_the_tracker_needs(manager):
    events = tracker_events()
    for name, entries in manager.items():
        filters = [value for key, value in entries if key == 'eventfilter']
        assert all(f.startswith('!') for f in filters), name

        def passes(payload):
            # POSIX regexes as Asterisk compiles them: '.' matches a newline.
            return not any(re.search(f[1:], payload, re.DOTALL)
                for f in filters)

        for event in events:
            payload = (f'Event: {event}\r\nPrivilege: agent,all\r\n'
                'Channel: PJSIP/8001-00000001\r\nUniqueid: 1.1\r\n')
            if event == 'VarSet':
                payload += 'Variable: CC_IVR_PATH\r\nValue: night/1\r\n'
            assert passes(payload), (name, event)
        assert passes('Event: VarSet\r\nVariable: CC_RECORDING\r\n')
        assert passes('Event: VarSet\r\nVariable: QUEUESTATUS\r\n')
        if filters:
            assert not passes('Event: Newexten\r\nApplication: Set\r\n')
            assert not passes('Event: VarSet\r\nVariable: QUEUE_PRIO\r\n')


@pytest.fixture(scope='module')
def asterisk_queues():
    return conf_sections(ASTERISK_DIR / 'queues.conf')


def test_every_strategy_maps_to_an_asterisk_strategy():
    from trytond.modules.cc_telephony import queue
    for code, _ in queue.STRATEGIES:
        assert STRATEGY_FALLBACK.get(code, code) in ASTERISK_STRATEGIES


def test_demo_queues_are_in_queues_conf(asterisk_queues):
    for code, values in demo_queues().items():
        assert code in asterisk_queues, code
        queue = options(asterisk_queues[code])
        strategy = values['strategy']
        assert queue['strategy'] == STRATEGY_FALLBACK.get(strategy,
            strategy), code
        assert int(queue['wrapuptime']) == values['wrapup_seconds'], code
        assert int(queue['servicelevel']) == values[
            'service_level_seconds'], code
        assert queue['musicclass'], code
        assert queue['ringinuse'] == 'no', code


def test_queues_have_no_static_members(asterisk_queues):
    # Agents sign in and out with QueueAdd/QueueRemove: app_queue cannot
    # remove a static member.
    for name, entries in asterisk_queues.items():
        assert 'member' not in options(entries), name
    assert options(asterisk_queues['general'])['persistentmembers'] == 'yes'


def test_default_queue_is_a_demo_queue(dialplan_globals):
    assert dialplan_globals['CC_DEFAULT_QUEUE'] in demo_queues()


def test_cdr_events_are_enabled():
    cdr_manager = conf_sections(ASTERISK_DIR / 'cdr_manager.conf')
    assert options(cdr_manager['general'])['enabled'] == 'yes'
    cdr = conf_sections(ASTERISK_DIR / 'cdr.conf')
    assert options(cdr['general'])['enable'] == 'yes'


def test_spooling_services_keep_their_spool_in_a_volume(compose, services):
    "What the bridge and router spool survives a container's restart"
    for name in ('bridge', 'router'):
        command = services[name]['command']
        assert '--spool-dir' in command, name
        spool_dir = command[command.index('--spool-dir') + 1]
        mounts = {v.split(':')[1]: v.split(':')[0]
            for v in services[name].get('volumes', [])}
        assert mounts.get(spool_dir) in compose['volumes'], name
