"Helpers shared by the cc modules' tests (every cc module depends on cc_base)."
from contextlib import contextmanager

from trytond.pool import Pool
from trytond.transaction import Transaction


@contextmanager
def as_user(user):
    "Run as ``user`` with access rights and record rules enforced, as RPC."
    transaction = Transaction()
    with transaction.set_user(user.id), \
            transaction.set_context(_check_access=True):
        yield


def create_user(login, *groups, **values):
    """A user named after ``login`` in ``groups``, given as
    'module.xml_id' or, for cc_base's groups, as the bare xml id."""
    pool = Pool()
    User = pool.get('res.user')
    ModelData = pool.get('ir.model.data')
    group_ids = [ModelData.get_id(*(g if '.' in g else 'cc_base.' + g
                ).split('.')) for g in groups]
    user, = User.create([{'login': login, 'name': login.title(),
                'groups': [('add', group_ids)], **values}])
    return user
