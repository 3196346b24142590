from trytond.tests.test_tryton import ModuleTestCase


class CcTelephonyTestCase(ModuleTestCase):
    "Test cc_telephony module"
    module = 'cc_telephony'


del ModuleTestCase
