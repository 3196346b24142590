"""zh_CN: cc_base's own strings and its overrides of party and company."""
from pathlib import Path

import polib

from trytond.modules import get_module_info
from trytond.pool import Pool
from trytond.tests.test_tryton import (
    TestCase, activate_module, with_transaction)
from trytond.transaction import Transaction

LOCALE = Path(__file__).parent.parent / 'locale'


def po_path(module):
    directory = get_module_info(module)['directory']
    return str(Path(directory, 'locale', 'zh_CN.po'))


class TranslationTestCase(TestCase):
    "Test the zh_CN translations"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        activate_module('cc_base')

    def load_zh_cn(self):
        "Load zh_CN as trytond-admin -l zh_CN does, in dependency order."
        Translation = Pool().get('ir.translation')
        for module in ['party', 'company']:
            Translation.translation_import('zh_CN', module, [po_path(module)])
        Translation.translation_import('zh_CN', 'cc_base', [
                str(LOCALE / 'zh_CN.po'),
                str(LOCALE / 'override' / 'zh_CN.po')])

    def test_cc_base_complete(self):
        "Every cc_base string has a zh_CN translation"
        pofile = polib.pofile(str(LOCALE / 'zh_CN.po'))
        self.assertEqual([e.msgctxt for e in pofile
                if not e.obsolete and (not e.msgstr or e.fuzzy)], [])

    @with_transaction()
    def test_party_company_overridden(self):
        "No party or company string an agent sees stays untranslated"
        pool = Pool()
        Translation = pool.get('ir.translation')
        Address = pool.get('party.address')
        Mechanism = pool.get('party.contact_mechanism')
        self.load_zh_cn()

        for module in ['party', 'company']:
            untranslated = Translation.search([
                    ('lang', '=', 'zh_CN'),
                    ('module', '=', module),
                    ['OR', ('value', '=', None), ('value', '=', ''),
                        ('fuzzy', '=', True)],
                    ])
            self.assertEqual(
                [(t.type, t.name, t.src) for t in untranslated], [])

        with Transaction().set_context(language='zh_CN'):
            self.assertEqual(
                Address.fields_get(['attn'])['attn']['string'], "收件人")
            self.assertEqual(
                Address.fields_get(['street'])['street']['string'], "街道")
            self.assertIn(('phone', "电话"),
                Mechanism.fields_get(['type'])['type']['selection'])
