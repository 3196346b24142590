"""Create and prepare a suite database: trytond-admin, modules, first-login.

``python -m ccsuite.database --database demo`` (or ``cc-database``) creates the
database when missing, activates every cc module of the checkout with zh_CN
translations, closes the first-login wizards and sets up the company. It
does nothing that is already done, so it is safe to run again.
"""
import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from . import config

LANGUAGES = ('en', 'zh_CN')


def admin(database, *args, password=None, env=None):
    "Run trytond-admin on database with the suite's configuration."
    env = env or config.environ()
    with tempfile.NamedTemporaryFile('w', suffix='.pass') as passfile:
        if password:
            passfile.write(password)
            passfile.flush()
            env['TRYTONPASSFILE'] = passfile.name
        command = [str(Path(sys.executable).parent / 'trytond-admin'),
            '-c', str(config.CONFIG_FILE), '-d', database, *args]
        subprocess.run(command, env=env, check=True,
            stdout=subprocess.DEVNULL)


def exists(database):
    "Whether the database exists and was initialised by trytond."
    uri = config.database_uri()
    if not uri:
        return (config.SQLITE_PATH / f'{database}.sqlite').exists() and (
            _sqlite_initialised(database))
    import psycopg
    with psycopg.connect(_pg_dsn(uri, 'postgres'), autocommit=True) as conn:
        found = conn.execute(
            'SELECT 1 FROM pg_database WHERE datname = %s',
            (database,)).fetchone()
    if not found:
        return False
    with psycopg.connect(_pg_dsn(uri, database)) as conn:
        return bool(conn.execute(
                "SELECT 1 FROM information_schema.tables "
                "WHERE table_name = 'ir_module'").fetchone())


def _sqlite_initialised(database):
    import sqlite3
    path = config.SQLITE_PATH / f'{database}.sqlite'
    with sqlite3.connect(path) as conn:
        return bool(conn.execute(
                "SELECT 1 FROM sqlite_master WHERE name = 'ir_module'"
                ).fetchone())


def _pg_dsn(uri, database):
    from urllib.parse import urlsplit, urlunsplit
    parts = urlsplit(uri)
    return urlunsplit((parts.scheme, parts.netloc, '/' + database, '', ''))


def create_empty(database):
    uri = config.database_uri()
    if not uri:
        config.SQLITE_PATH.mkdir(parents=True, exist_ok=True)
        (config.SQLITE_PATH / f'{database}.sqlite').touch()
        return
    import psycopg
    with psycopg.connect(_pg_dsn(uri, 'postgres'), autocommit=True) as conn:
        if not conn.execute('SELECT 1 FROM pg_database WHERE datname = %s',
                (database,)).fetchone():
            conn.execute(f'CREATE DATABASE "{database}" ENCODING \'UTF8\' '
                'TEMPLATE template0')


def drop(database):
    drop_bridge_files(database)
    uri = config.database_uri()
    if not uri:
        # The -wal/-shm files of a dropped database would be replayed into
        # a new one of the same name.
        for suffix in ('.sqlite', '.sqlite-wal', '.sqlite-shm'):
            (config.SQLITE_PATH / f'{database}{suffix}').unlink(
                missing_ok=True)
        return
    import psycopg
    with psycopg.connect(_pg_dsn(uri, 'postgres'), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def drop_bridge_files(database):
    """The spools, dead letters and state `make run`'s bridge and router
    kept for the database: they would only set them aside as another
    incarnation's (see cc_telephony's bridge.file_base)."""
    from urllib.parse import quote
    for service in ('bridge', 'router'):
        for path in config.SPOOL_PATH.glob(
                f'{service}-*@{quote(database, safe="")}.*'):
            path.unlink(missing_ok=True)


def initialise(database, password, modules=None):
    "Create (when missing) and activate modules; returns True if created."
    created = not exists(database)
    if created:
        create_empty(database)
        admin(database, '--all', '--email', 'admin@example.com',
            password=password)
    modules = modules or config.cc_modules()
    admin(database, '-u', *modules, '--activate-dependencies')
    if _make_translatable(database):
        admin(database, '--all', '-l', *LANGUAGES)
    return created


def _make_translatable(database):
    "Make the suite's languages translatable; True if one was not."
    from . import session
    with session.transaction(database) as pool:
        Lang = pool.get('ir.lang')
        langs = Lang.search([
                ('code', 'in', LANGUAGES),
                ('translatable', '=', False),
                ])
        Lang.write(langs, {'translatable': True})
        return bool(langs)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--database', '-d', default='demo')
    parser.add_argument('--password', default=os.environ.get(
            'CC_ADMIN_PASSWORD', 'admin-demo'),
        help="admin password when the database is created")
    parser.add_argument('--module', '-m', action='append',
        help="module to activate (default: every cc module)")
    parser.add_argument('--drop', action='store_true',
        help="drop the database first")
    args = parser.parse_args(argv)
    if args.drop:
        drop(args.database)
    created = initialise(args.database, args.password, args.module)
    from . import firstlogin
    firstlogin.run(args.database)
    print(f"database {args.database}: "
        f"{'created' if created else 'updated'}")


if __name__ == '__main__':
    main()
