"""Activate and deactivate modules the way an administrator does in the web
client: the module's button ("Mark for Activation" / "Mark for
Deactivation"), then the "Perform Pending Activation/Upgrade" wizard, all
over RPC.

    python -m ccsuite.lifecycle deactivate cc_ticket -d demo
    python -m ccsuite.lifecycle activate cc_ticket -d demo
    python -m ccsuite.lifecycle status -d demo

Deactivating a module first deactivates the activated modules that depend
on it (children first; trytond refuses the other order). Activating a
module activates what it depends on. Without --url a temporary server is
started on the database; with --url the command goes through that running
server (use it when one serves the database, so that its pool reloads).
Deactivation deletes the module's menus, views, actions, access rights and
groups (and so users' membership of those groups) but keeps its tables and
data; activating it again works thanks to cc_base's module.py.
"""
import argparse
import os
import sys

WIZARD = 'wizard.ir.module.activate_upgrade'


class Modules:
    "ir.module through an RPC session (ccsuite.testing.JsonRpc)."

    def __init__(self, rpc):
        self.rpc = rpc

    def read(self, names=None):
        "{name: {'id', 'state', 'childs' (ids)}} of the modules."
        domain = [('name', 'in', list(names))] if names else []
        records = self.rpc('model.ir.module.search_read', domain, 0, None,
            None, ['name', 'state', 'childs'], self.rpc.context)
        return {r['name']: r for r in records}

    def states(self, names=None):
        return {n: r['state'] for n, r in self.read(names).items()}

    def click(self, name, button):
        module, = self.read([name]).values()
        self.rpc(f'model.ir.module.{button}', [module['id']],
            self.rpc.context)

    def apply(self):
        "Run the pending activations/deactivations (the web client wizard)."
        context = self.rpc.context
        session_id, _, _ = self.rpc(f'{WIZARD}.create', context)
        try:
            self.rpc(f'{WIZARD}.execute', session_id, {}, 'upgrade', context)
        finally:
            self.rpc(f'{WIZARD}.delete', session_id, context)


def activated_dependents(modules, name):
    """Activated modules depending (directly or not) on name, dependents
    before what they depend on."""
    by_id = {m['id']: m for m in modules.values()}
    order = []

    def visit(module):
        for child_id in module['childs']:
            child = by_id[child_id]
            if child['state'] == 'activated' and child['name'] not in order:
                visit(child)
                order.append(child['name'])
    visit(modules[name])
    return order


def deactivate(modules, names):
    "Deactivate names and their dependents; returns the names deactivated."
    current = modules.read()
    order = []
    for name in names:
        for dependent in activated_dependents(current, name) + [name]:
            if dependent not in order:
                order.append(dependent)
    order = [n for n in order if current[n]['state'] == 'activated']
    for name in order:
        modules.click(name, 'deactivate')
    if order:
        modules.apply()
    return order


def activate(modules, names):
    "Activate names (and what they depend on); returns the names asked."
    states = modules.states()
    todo = [n for n in names if states[n] == 'not activated']
    for name in todo:
        modules.click(name, 'activate')
    if todo:
        modules.apply()
    return todo


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('action', choices=['activate', 'deactivate', 'status'])
    parser.add_argument('modules', nargs='*')
    parser.add_argument('--database', '-d', default='demo')
    parser.add_argument('--url', help="running server, e.g. "
        "http://localhost:8000 (default: start one for the command)")
    parser.add_argument('--login', default='admin')
    parser.add_argument('--password',
        default=os.environ.get('CC_ADMIN_PASSWORD', 'admin-demo'))
    args = parser.parse_args(argv)
    if args.action != 'status' and not args.modules:
        parser.error("name at least one module")
    from . import testing
    server = None
    if not args.url:
        server = testing.Server(args.database).start()
    try:
        rpc = testing.JsonRpc(args.url or server.url, args.database).login(
            args.login, args.password)
        modules = Modules(rpc)
        if args.action == 'deactivate':
            done = deactivate(modules, args.modules)
        elif args.action == 'activate':
            done = activate(modules, args.modules)
        else:
            done = []
        states = modules.states(args.modules or None)
    except testing.RpcError as error:
        sys.exit(f"{args.action} failed: {error.message}\n{error.description}")
    finally:
        if server:
            server.stop()
    if done:
        print(f"{args.action}: {', '.join(done)}")
    for name, state in sorted(states.items()):
        if args.modules or name.startswith('cc_'):
            print(f'{name}: {state}')


if __name__ == '__main__':
    main()
