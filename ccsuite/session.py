"""Work on a suite database in-process, through trytond's pool."""
import contextlib

from . import config


@contextlib.contextmanager
def transaction(database, user=0, context=None, readonly=False):
    "Yield the pool of database inside a committed transaction."
    config.apply_environ()
    import trytond.config as trytond_config
    # trytond may have read the environment before apply_environ().
    trytond_config._config.update_environ()
    trytond_config.update_etc(str(config.CONFIG_FILE))
    from trytond.pool import Pool
    from trytond.transaction import Transaction
    pool = Pool(database)
    pool.init()
    with Transaction().start(
            database, user, context=context or {}, readonly=readonly) as tx:
        yield pool
        if not readonly:
            tx.commit()
