"""End-to-end test support shared by every module: a throw-away database,
a real trytond server on a free local port, and JSON-RPC / XML-RPC clients.

    with testing.TestDatabase() as database, \\
            testing.Server(database.name) as server:
        admin = server.json_rpc().login('admin', testing.ADMIN_PASSWORD)
        admin('model.cc.caller.identify', '13812345678', {})

The database backend follows ccsuite.config: SQLite by default,
PostgreSQL when CC_DATABASE_URI is set.
"""
import base64
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import xmlrpc.client
from pathlib import Path

from . import config

ADMIN_PASSWORD = 'admin-demo'
START_TIMEOUT = 90


def free_port():
    "A TCP port nobody listens on at 127.0.0.1 (right now)."
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def wait_until(condition, timeout, interval=0.1, message="condition"):
    "Poll condition() until it returns a true value; return that value."
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{message} not met within {timeout} s")
        time.sleep(interval)


def modules_under_test():
    "CC_TEST_MODULES (comma-separated) or every cc module of the checkout."
    names = os.environ.get('CC_TEST_MODULES')
    if names:
        return [n.strip() for n in names.split(',') if n.strip()]
    return config.cc_modules()


def unique_database_name(prefix='cc_e2e'):
    return f'{prefix}_{os.getpid()}_{int(time.time()) % 100000}'


class TestDatabase:
    """A database for one test session, dropped afterwards: every cc module
    (or `modules`) activated with zh_CN, first-login done, demo users.

    It is built by `python -m ccsuite.database` in a child process, so the
    test process holds no connection to it and `clone()` can copy it (a
    file copy on SQLite, CREATE DATABASE … TEMPLATE on PostgreSQL) for
    tests that change it beyond repair (module deactivation)."""
    __test__ = False  # not a pytest test class

    def __init__(self, name=None, modules=None, password=ADMIN_PASSWORD):
        self.name = name or unique_database_name()
        self.modules = modules
        self.password = password

    def create(self):
        from . import database
        database.drop(self.name)
        self._remove_sqlite_journal(self.name)
        command = [sys.executable, '-m', 'ccsuite.database',
            '--database', self.name, '--password', self.password]
        for module in self.modules or []:
            command += ['--module', module]
        subprocess.run(command, check=True, env=config.environ(),
            cwd=config.ROOT, stdout=subprocess.DEVNULL)
        return self

    def clone(self, name):
        "A copy of this database (which nobody may be using) named name."
        from . import database
        uri = config.database_uri()
        database.drop(name)
        if uri:
            import psycopg
            with psycopg.connect(database._pg_dsn(uri, 'postgres'),
                    autocommit=True) as conn:
                conn.execute(
                    f'CREATE DATABASE "{name}" TEMPLATE "{self.name}"')
        else:
            import sqlite3
            self._remove_sqlite_journal(name)
            source = sqlite3.connect(self.sqlite_path(self.name))
            target = sqlite3.connect(self.sqlite_path(name))
            with source, target:
                source.backup(target)
            source.close()
            target.close()
        return TestDatabase(name, self.modules, self.password)

    def query(self, sql, *params):
        """Rows of a read-only SQL query (qmark parameters), straight from
        the database: for checks that RPC cannot make (ir.model.data is not
        exposed)."""
        uri = config.database_uri()
        if uri:
            import psycopg
            from . import database
            with psycopg.connect(database._pg_dsn(uri, self.name)) as conn:
                return conn.execute(
                    sql.replace('?', '%s'), params).fetchall()
        import sqlite3
        conn = sqlite3.connect(self.sqlite_path(self.name))
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

    def xml_records(self, module):
        "{XML id: (model, id)} of the records a module loaded from XML."
        return {fs_id: (model, db_id) for fs_id, model, db_id in self.query(
                'SELECT fs_id, model, db_id FROM ir_model_data '
                'WHERE module = ?', module)}

    def record_exists(self, model, record_id):
        table = model.replace('.', '_')
        return bool(self.query(
                f'SELECT 1 FROM "{table}" WHERE id = ?', record_id))

    @staticmethod
    def sqlite_path(name):
        return config.SQLITE_PATH / f'{name}.sqlite'

    @classmethod
    def _remove_sqlite_journal(cls, name):
        # trytond opens SQLite in WAL mode: a stale -wal file left by a
        # dropped database of the same name would be replayed into a new one.
        for suffix in ('-wal', '-shm'):
            path = cls.sqlite_path(name).with_name(f'{name}.sqlite{suffix}')
            path.unlink(missing_ok=True)

    def drop(self):
        from . import database
        database.drop(self.name)
        if not config.database_uri():
            self._remove_sqlite_journal(self.name)

    def __enter__(self):
        return self.create()

    def __exit__(self, *exc):
        self.drop()


class Server:
    """A trytond process serving one database (and sao) on 127.0.0.1."""

    def __init__(self, database, port=None, env=None, log_path=None):
        self.database = database
        self.port = port or free_port()
        self.extra_env = env or {}
        self.log_path = Path(log_path) if log_path else Path(
            tempfile.gettempdir()) / f'trytond-{database}-{self.port}.log'
        self.process = None

    @property
    def url(self):
        return f'http://127.0.0.1:{self.port}'

    @property
    def rpc_url(self):
        return f'{self.url}/{self.database}/rpc/'

    def environ(self):
        env = config.environ()
        env['TRYTOND_WEB__LISTEN'] = f'127.0.0.1:{self.port}'
        env.update(self.extra_env)
        return env

    def override_config(self):
        """A config file read after trytond.conf: trytond applies the
        TRYTOND_* variables first and the files second, so the `listen` of
        trytond.conf would win over TRYTOND_WEB__LISTEN."""
        path = Path(tempfile.gettempdir()) / f'trytond-{self.port}.conf'
        path.write_text(f'[web]\nlisten = 127.0.0.1:{self.port}\n')
        return path

    def command(self):
        # trytond 8.0.x answers every call with KeyError 'res.user' when
        # started without -d (tryton.md), so the database is always given.
        trytond = Path(sys.executable).parent / 'trytond'
        return [str(trytond), '-d', self.database,
            '-c', str(config.CONFIG_FILE), str(self.override_config())]

    def start(self, timeout=START_TIMEOUT):
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, 'ab')
        self.process = subprocess.Popen(self.command(), env=self.environ(),
            stdout=self._log, stderr=subprocess.STDOUT)
        try:
            wait_until(self._answers, timeout,
                message=f"server on {self.url}")
        except BaseException:
            self.stop()
            raise
        return self

    def _answers(self):
        if self.process.poll() is not None:
            raise RuntimeError(
                f"trytond exited with {self.process.returncode}:\n"
                + self.log_tail())
        try:
            version = post_json(
                f'{self.url}/rpc/', 'common.server.version', [])
        except OSError:
            return False
        return bool(version)

    def log_tail(self, lines=40):
        try:
            text = self.log_path.read_text(errors='replace')
        except OSError:
            return ''
        return '\n'.join(text.splitlines()[-lines:])

    def stop(self, timeout=15):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if getattr(self, '_log', None):
            self._log.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def json_rpc(self):
        return JsonRpc(self.url, self.database)

    def xml_rpc(self):
        return XmlRpc(self.url, self.database)


# --- JSON-RPC ---------------------------------------------------------------

class RpcError(Exception):
    """An error answered by the server. `kind` is the Tryton exception name
    ('UserError', 'AccessError'…) or None for an unexpected error;
    `message` is the user-facing text."""

    def __init__(self, error):
        self.error = error
        if (isinstance(error, list) and len(error) == 2
                and isinstance(error[1], list)):
            self.kind = error[0]
            self.message = error[1][0] if error[1] else ''
            self.description = (
                error[1][1] if len(error[1]) > 1 else '')
        else:
            self.kind = None
            self.message = error[0] if isinstance(error, list) else error
            self.description = ''
        super().__init__(f'{self.kind}: {self.message}')


class HttpError(Exception):
    def __init__(self, status, body):
        self.status = status
        super().__init__(f'HTTP {status}: {body[:200]!r}')


def _json_codec():
    from trytond.protocols.jsonrpc import JSONDecoder, JSONEncoder
    return JSONEncoder, JSONDecoder()


def post_json(url, method, params, headers=None, request_id=1):
    "One JSON-RPC call; returns the result or raises RpcError/HttpError."
    encoder, decoder = _json_codec()
    body = json.dumps({'id': request_id, 'method': method, 'params': params},
        cls=encoder).encode()
    status, data = _post(url, body, {
            'Content-Type': 'application/json', **(headers or {})})
    if status != 200:
        raise HttpError(status, data)
    answer = json.loads(data, object_hook=decoder)
    if 'error' in answer:
        raise RpcError(answer['error'])
    return answer['result']


def _post(url, body, headers):
    from urllib.parse import urlsplit
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=300)
    try:
        conn.request('POST', parts.path or '/', body, headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def session_header(login, user_id, token):
    credentials = f'{login}:{user_id}:{token}'.encode()
    return {'Authorization':
        'Session ' + base64.b64encode(credentials).decode()}


class JsonRpc:
    """JSON-RPC session on a database: `rpc('model.x.method', *args, ctx)`.
    As in every Tryton call the context is the last positional argument."""

    def __init__(self, base_url, database):
        self.url = f'{base_url}/{database}/rpc/'
        self.headers = {}
        self.user_id = None
        self._ids = iter(range(1, 1 << 62))

    def login(self, login, password, language='en'):
        user_id, token, *_ = post_json(self.url, 'common.db.login',
            [login, {'password': password}, language])
        self.user_id = user_id
        self.headers = session_header(login, user_id, token)
        self.context = self('model.res.user.get_preferences', True, {})
        return self

    def __call__(self, method, *params):
        return post_json(
            self.url, method, list(params), self.headers, next(self._ids))

    def logout(self):
        self('common.db.logout')


def error_message(exception):
    "The user-facing message of an RpcError or an XML-RPC Fault."
    if isinstance(exception, RpcError):
        return exception.message
    if isinstance(exception, xmlrpc.client.Fault):
        return exception.faultString
    raise TypeError(f"not an RPC error: {exception!r}")


RPC_ERRORS = (RpcError, xmlrpc.client.Fault)


# --- XML-RPC ----------------------------------------------------------------

class _HeaderTransport(xmlrpc.client.Transport):
    def __init__(self, headers):
        super().__init__(use_builtin_types=True)
        self.extra_headers = headers

    def send_headers(self, connection, headers):
        super().send_headers(connection, headers)
        for key, value in self.extra_headers.items():
            connection.putheader(key, value)


class XmlRpc:
    """XML-RPC session: `rpc('model.x.method', *args, ctx)`; errors are
    xmlrpc.client.Fault whose faultString is the user-facing message
    followed by " - " and the description."""

    def __init__(self, base_url, database):
        self.url = f'{base_url}/{database}/rpc/'
        self.user_id = None
        self.proxy = self._proxy({})

    def _proxy(self, headers):
        return xmlrpc.client.ServerProxy(self.url,
            transport=_HeaderTransport(headers), allow_none=True,
            use_builtin_types=True)

    def login(self, login, password, language='en'):
        user_id, token, *_ = getattr(self.proxy, 'common.db.login')(
            login, {'password': password}, language)
        self.user_id = user_id
        self.proxy = self._proxy(session_header(login, user_id, token))
        self.context = self('model.res.user.get_preferences', True, {})
        return self

    def __call__(self, method, *params):
        return getattr(self.proxy, method)(*params)


# --- bus ---------------------------------------------------------------------

def publish_on_bus(database, channel, message):
    """Send ``message`` (a dict) on trytond's bus ``channel`` of ``database``
    (a name) as ``trytond.bus.Bus.publish`` does: a PostgreSQL NOTIFY that
    every server's bus listener on that database receives. PostgreSQL only
    (SQLite has no channels). Browser tests use it to know that the
    server's listener, started by the web client's first long poll, is up:
    a message published before it is lost."""
    import uuid

    import psycopg

    from . import database as databases
    uri = config.database_uri()
    if not uri:
        raise RuntimeError("the bus needs PostgreSQL (CC_DATABASE_URI)")
    payload = json.dumps({'channel': channel, 'message': {
                **message, 'message_id': str(uuid.uuid4())}},
        separators=(',', ':'))
    with psycopg.connect(databases._pg_dsn(uri, database),
            autocommit=True) as conn:
        conn.execute('SELECT pg_notify(%s, %s)', ('bus', payload))
