from trytond.model.exceptions import ValidationError
from trytond.pool import Pool
from trytond.tests.test_tryton import ModuleTestCase, with_transaction


class CcTelephonyTestCase(ModuleTestCase):
    "Test cc_telephony module"
    module = 'cc_telephony'

    @with_transaction()
    def test_queue_code_reserved_by_asterisk(self):
        "No queue can be coded 'general', app_queue's settings section"
        Queue = Pool().get('cc.queue')
        for code in ['general', 'General ']:
            with self.subTest(code=code), \
                    self.assertRaisesRegex(ValidationError, 'reserves'):
                Queue.create([{'name': "Hotline", 'code': code}])
        queue, = Queue.create([{'name': "Hotline", 'code': 'hotline'}])
        with self.assertRaises(ValidationError):
            Queue.write([queue], {'code': 'GENERAL'})


del ModuleTestCase
