"""Module deactivation that works, and can be undone.

trytond deactivates a module (``load_modules`` in ``trytond/modules``) by
deleting, in descending ``ir.model.data`` id order, every record the module
loaded from XML. Two defects of trytond 8.0 break that for the cc modules:

1. The order. trytond saves the ``ir.model.data`` rows of a ``<data>``
   block from a set (``convert.py``, ``grouped_model_data``), so their ids do
   not follow the order of the records: a record can get a lower id than one
   it depends on, and deactivation then deletes the record depended on first
   (cc_ticket: its sequence type before its sequence → ForeignKeyError). When
   a module is marked for deactivation, its rows are renumbered in the order
   of its XML files, so that the descending order deletes dependents first.
2. The leftovers. The ``ir.model.data`` rows themselves are kept
   (``ir.model.data.clean`` only empties ``db_id`` of ``noupdate`` rows), so
   activating the module again finds its XML ids "already loaded", updates
   records that no longer exist and fails (``ParsingError … AccessError``).
   trytond calls ``ir.module.update_list`` right after the deletion, in the
   pool that still holds the deactivated modules (cc_base included): the rows
   of modules no longer activated are deleted there, so the next activation
   creates the records afresh, as a first activation does.

Both run for any deactivation made through the web client, RPC or proteus
(trytond has no command-line deactivation).
"""
import os
import xml.etree.ElementTree as ET

from trytond import tools
from trytond.model import ModelView
from trytond.modules import get_module_info
from trytond.pool import Pool, PoolMeta
from trytond.transaction import Transaction

XML_RECORD_TAGS = {'record', 'menuitem'}


class Module(metaclass=PoolMeta):
    __name__ = 'ir.module'

    @classmethod
    @ModelView.button
    def deactivate(cls, modules):
        super().deactivate(modules)
        for module in cls.browse(modules):
            if module.state == 'to remove':
                cls.renumber_records_for_removal(module.name)

    @classmethod
    def renumber_records_for_removal(cls, name):
        "Renumber the module's ir.model.data rows in XML file order."
        ModelData = Pool().get('ir.model.data')
        data = ModelData.__table__()
        transaction = Transaction()
        cursor = transaction.connection.cursor()
        rank = {fs_id: i for i, fs_id in enumerate(xml_ids(name))}
        cursor.execute(*data.select(data.id, data.fs_id,
                where=data.module == name))
        # Rows no XML file names any more come first: deleted last.
        rows = sorted(cursor, key=lambda r: (rank.get(r[1], -1), r[0]))
        if not rows:
            return
        cursor.execute(*data.select(data.id, order_by=[data.id.desc],
                limit=1))
        first, = cursor.fetchone()
        first += 1
        for position, (old_id, _) in enumerate(rows):
            cursor.execute(*data.update([data.id], [first + position],
                    where=data.id == old_id))
        transaction.database.setnextid(
            transaction.connection, ModelData._table, first + len(rows))

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


def xml_ids(module):
    "The XML ids a module defines, in the order trytond loads them."
    for filename in get_module_info(module).get('xml', []):
        path = os.path.join(module, filename.replace('/', os.sep))
        with tools.file_open(path, 'rb') as fp:
            root = ET.parse(fp).getroot()
        for element in root.iter():
            fs_id = element.get('id')
            if element.tag in XML_RECORD_TAGS and fs_id and '.' not in fs_id:
                yield fs_id
