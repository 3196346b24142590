"""Keep each module's locale/zh_CN.po complete.

    python -m ccsuite.i18n export cc_base [cc_ticket …]
        rewrites addons/<module>/locale/zh_CN.po from a scratch database:
        existing translations are kept, new strings appear with an empty
        msgstr (or one trytond borrows from another module's same text:
        review those), strings that are gone are dropped. Modules named in
        an extras_depend are activated and rewritten too.
    python -m ccsuite.i18n check [module …]
        exits 1 listing every string without a zh_CN translation (empty or
        fuzzy) in the given modules (default: every cc module).
"""
import argparse
import os
import sys
import tempfile
from pathlib import Path

from . import config
from .database import admin

LANGUAGE = 'zh_CN'


def _scratch_env(directory):
    env = config.environ()
    env['TRYTOND_DATABASE__URI'] = env['TRYTOND_DATABASE_URI'] = 'sqlite://'
    env['TRYTOND_DATABASE__PATH'] = directory
    return env


def _scratch_database(directory, modules, *extra):
    env = _scratch_env(directory)
    (Path(directory) / 'i18n.sqlite').touch()
    admin('i18n', '--all', '--email', 'admin@example.com',
        password='scratch-admin', env=env)
    admin('i18n', '-u', *modules, '--activate-dependencies',
        '-l', LANGUAGE, *extra, env=env)
    return env


def with_extras(modules):
    """The modules and the cc modules they optionally depend on: strings of
    classes registered for an extra dependency exist only when it is active
    (their po files are rewritten too)."""
    import configparser
    result = list(modules)
    for module in modules:
        cfg = configparser.ConfigParser()
        cfg.read(config.ADDONS / module / 'tryton.cfg')
        extras = cfg.get('tryton', 'extras_depend', fallback='').split()
        result += [m for m in extras
            if m in config.cc_modules() and m not in result]
    return result


def export(modules):
    with tempfile.TemporaryDirectory() as directory:
        _scratch_database(
            directory, with_extras(modules), '--export-translations')


def missing(modules):
    "{module: [msgctxt of untranslated entries]} from a scratch database."
    import polib
    with tempfile.TemporaryDirectory() as directory:
        env = _scratch_database(directory, modules)
        os.environ.update(env)
        from . import session
        with session.transaction('i18n') as pool:
            _synchronise(pool)
            Translation = pool.get('ir.translation')
            result = {}
            for module in modules:
                pofile = polib.pofile(
                    Translation.translation_export(LANGUAGE, module).decode())
                result[module] = [e.msgctxt for e in pofile
                    if not e.obsolete and (not e.msgstr or e.fuzzy)
                    and not e.msgstr_plural]
            return result


def _synchronise(pool):
    "What trytond-admin --export-translations does before exporting."
    Lang = pool.get('ir.lang')
    for name, state, data in [
            ('ir.translation.set', 'set_', {}),
            ('ir.translation.clean', 'clean', {}),
            ]:
        Wizard = pool.get(name, type='wizard')
        session_id, _, _ = Wizard.create()
        Wizard.execute(session_id, data, state)
        Wizard.delete(session_id)
    language, = Lang.search([('code', '=', LANGUAGE)])
    Update = pool.get('ir.translation.update', type='wizard')
    session_id, _, _ = Update.create()
    Update.execute(
        session_id, {'start': {'language': language.id}}, 'update')
    Update.delete(session_id)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('command', choices=['export', 'check'])
    parser.add_argument('modules', nargs='*')
    args = parser.parse_args(argv)
    modules = args.modules or config.cc_modules()
    if args.command == 'export':
        export(modules)
        return 0
    failures = missing(modules)
    for module, entries in failures.items():
        for entry in entries:
            print(f'{module}: untranslated {entry}')
    total = sum(map(len, failures.values()))
    print(f'{total} untranslated string(s) in {", ".join(modules)}')
    return 1 if total else 0


if __name__ == '__main__':
    sys.exit(main())
