"""Session fixtures of the end-to-end tests: one fresh database per run (SQLite,
or PostgreSQL when CC_DATABASE_URI is set) and a real trytond server on it.

CC_TEST_MODULES=cc_base,cc_ticket restricts the modules activated (default:
every cc module of the checkout). CC_TEST_OUTPUT is where screenshots and
server logs go (default test-output/). While writing tests,
CC_TEST_TEMPLATE=<database> skips the database creation (about a minute):
that existing database, which must not be served, is cloned (and kept).
"""
import os
import signal
from pathlib import Path

import pytest

from ccsuite import config, testing


def pytest_configure():
    "A terminated run still stops its servers and drops its databases."
    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, interrupt)


@pytest.fixture(scope='session')
def output_dir():
    path = Path(os.environ.get('CC_TEST_OUTPUT') or 'test-output')
    path = path if path.is_absolute() else config.ROOT / path
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope='session')
def template_database():
    """The database as `ccsuite.database` makes it; never served, so that
    it can be cloned. Dropped at the end of the session."""
    existing = os.environ.get('CC_TEST_TEMPLATE')
    if existing:
        yield testing.TestDatabase(existing)
        return
    database = testing.TestDatabase(
        testing.unique_database_name('cc_e2e_tpl'),
        modules=testing.modules_under_test())
    database.create()
    yield database
    database.drop()


@pytest.fixture(scope='session')
def database(template_database):
    database = template_database.clone(testing.unique_database_name())
    yield database
    database.drop()


@pytest.fixture(scope='session')
def start_server(output_dir):
    "Start a server on a TestDatabase, logging under the test output."
    def start(database):
        return testing.Server(database.name,
            log_path=output_dir / f'server-{database.name}.log').start()
    return start


@pytest.fixture(scope='session')
def server(database, start_server):
    server = start_server(database)
    yield server
    server.stop()


@pytest.fixture(scope='session')
def admin(server):
    "JSON-RPC session of the administrator."
    return server.json_rpc().login('admin', testing.ADMIN_PASSWORD)


@pytest.fixture(scope='session')
def agent(server):
    "JSON-RPC session of the Chinese-language agent of team T1."
    return server.json_rpc().login('agent', 'agent-demo')
