"""Module deactivation that can be undone.

trytond deactivates a module (``load_modules`` in ``trytond/modules``) by
deleting every record listed in the module's ``ir.model.data`` rows, but it
keeps the rows themselves (``ir.model.data.clean`` only empties the ``db_id``
of ``noupdate`` rows). Activating the module again then finds its XML ids
"already loaded", tries to update records that no longer exist and fails
(``ParsingError … AccessError``).

trytond calls ``ir.module.update_list`` right after it has deleted those
records and marked the modules "not activated", in the same pool (which
still holds the classes of the modules being deactivated, cc_base included),
whether the deactivation came from the web client, RPC or trytond-admin. The
override below forgets the XML ids of every module that is no longer
activated there, so the next activation creates the records afresh, exactly
like a first activation.
"""
from trytond.pool import Pool, PoolMeta
from trytond.transaction import Transaction


class Module(metaclass=PoolMeta):
    __name__ = 'ir.module'

    @classmethod
    def update_list(cls):
        cls.forget_deactivated_records()
        return super().update_list()

    @classmethod
    def forget_deactivated_records(cls):
        "Delete the ir.model.data rows of modules that are not activated."
        ModelData = Pool().get('ir.model.data')
        data = ModelData.__table__()
        module = cls.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*data.delete(where=data.module.in_(
                    module.select(module.name,
                        where=module.state == 'not activated'))))
        if cursor.rowcount:
            ModelData._get_id_cache.clear()
            ModelData._has_model_cache.clear()
