"""Where the suite's configuration and databases are, for every tool."""
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG_FILE = ROOT / 'trytond.conf'
ADDONS = ROOT / 'addons'
SQLITE_PATH = ROOT / 'var' / 'db'
# Where `make run`'s bridge keeps its spool and state (--spool-dir).
SPOOL_PATH = ROOT / 'var' / 'spool'


def cc_modules():
    "Every cc module of the checkout, in dependency-free name order."
    return sorted(p.name for p in ADDONS.iterdir()
        if (p / 'tryton.cfg').exists())


def database_uri():
    "CC_DATABASE_URI (if set) wins over trytond.conf; None means SQLite."
    uri = os.environ.get('CC_DATABASE_URI')
    return uri if uri and not uri.startswith('sqlite') else None


def environ():
    "Environment for trytond processes: the URI override and our paths."
    env = dict(os.environ)
    uri = database_uri() or 'sqlite://'
    # TRYTOND_DATABASE_URI is the name proteus and trytond's tests read.
    env['TRYTOND_DATABASE__URI'] = env['TRYTOND_DATABASE_URI'] = uri
    env.setdefault('TRYTOND_DATABASE__PATH', str(SQLITE_PATH))
    env.setdefault('TRYTOND_WEB__ROOT', str(ROOT / 'var' / 'sao'))
    env.setdefault('TRYTOND_WEB__LISTEN', '127.0.0.1:8000')
    env.setdefault('TRYTOND_CONFIG', str(CONFIG_FILE))
    return env


def apply_environ():
    "Apply environ() to this process before trytond reads its config."
    os.environ.update(environ())
