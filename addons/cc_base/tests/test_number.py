import unittest

from trytond.modules.cc_base import number


class NumberTestCase(unittest.TestCase):
    "Caller numbers in the shapes a Chinese PBX delivers them"

    def assertNumber(self, raw, e164, **expected):
        caller = number.parse(raw, local_area_code='010')
        self.assertEqual(caller.e164, e164, raw)
        for name, value in expected.items():
            self.assertEqual(getattr(caller, name), value, (raw, name))

    def test_mobile_shapes(self):
        for raw in ['13800138000', '+86 138 0013 8000', '8613800138000',
                '008613800138000', '013800138000', '138-0013-8000',
                '1795113800138000']:
            self.assertNumber(raw, '+8613800138000', line_type='mobile',
                province='北京市', city='北京市', carrier='中国移动')

    def test_fixed_line_with_area_code(self):
        self.assertNumber('075512345678', '+8675512345678',
            province='广东省', city='深圳市', line_type='fixed')
        self.assertNumber('0471 1234567', '+864711234567',
            province='内蒙古', city='呼和浩特市')

    def test_local_number_gets_local_area_code(self):
        self.assertNumber('62345678', '+861062345678', province='北京市')
        self.assertIsNone(number.parse('62345678').e164)

    def test_service_and_foreign_numbers(self):
        self.assertNumber('4008123123', '+864008123123',
            line_type='shared_cost', province=None)
        self.assertNumber('+1 650 253 0000', '+16502530000', country='US')

    def test_invalid(self):
        for raw in ['', None, 'abc', '12345', '95588']:
            caller = number.parse(raw)
            self.assertFalse(caller.valid, raw)
            self.assertIsNone(caller.e164)
        self.assertEqual(number.parse('95588').key, '95588')

    def test_region_label(self):
        self.assertEqual(number.parse('075512345678').region, '广东省深圳市')
        self.assertEqual(number.parse('13800138000').region, '北京市')

    def test_split_region(self):
        self.assertEqual(number.split_region('新疆维吾尔自治区乌鲁木齐市'),
            ('新疆维吾尔自治区', '乌鲁木齐市'))
        self.assertEqual(number.split_region('香港特别行政区'),
            ('香港特别行政区', None))
        self.assertEqual(number.split_region(''), (None, None))
