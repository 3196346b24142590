from trytond.tests.test_tryton import ModuleTestCase


class CcBaseTestCase(ModuleTestCase):
    "Test cc_base module"
    module = 'cc_base'


del ModuleTestCase
