"""Caller numbers as a Chinese PBX delivers them, normalised with phonenumbers.

Pure: no ORM. A PBX hands over numbers in many shapes: with a trunk prefix
``0`` before a mobile number, with ``+86``/``0086``/``86``, with an IP-dialling
prefix (17951, 12593 …), or a local fixed-line number without its area code.
``parse`` turns any of them into an E.164 number plus where and what it is.
"""
import re
from dataclasses import dataclass

import phonenumbers
from phonenumbers import PhoneNumberType, carrier, geocoder

# Carrier IP long-distance prefixes dialled before the real number.
IP_PREFIXES = ('17951', '17911', '12593', '17909', '10193', '96688')
_NON_DIGITS = re.compile(r'[^\d+]')
_MOBILE_WITH_TRUNK_ZERO = re.compile(r'^0(1[3-9]\d{9})$')
_PROVINCE = re.compile(r'^(.+?(?:省|自治区|特别行政区))(.*)$')
_MUNICIPALITIES = ('北京市', '上海市', '天津市', '重庆市')

LINE_TYPES = {
    PhoneNumberType.MOBILE: 'mobile',
    PhoneNumberType.FIXED_LINE: 'fixed',
    PhoneNumberType.FIXED_LINE_OR_MOBILE: 'fixed',
    PhoneNumberType.TOLL_FREE: 'toll_free',
    PhoneNumberType.SHARED_COST: 'shared_cost',
    PhoneNumberType.VOIP: 'voip',
    PhoneNumberType.UAN: 'service',
    }


@dataclass(frozen=True)
class CallerNumber:
    raw: str
    e164: str | None = None
    valid: bool = False
    country: str | None = None
    province: str | None = None
    city: str | None = None
    carrier: str | None = None
    line_type: str | None = None

    @property
    def region(self):
        "Province and city as one label (a municipality is shown once)."
        if self.province and self.city and self.province != self.city:
            return self.province + self.city
        return self.province or self.city or self.country

    @property
    def key(self):
        "The value to search stored numbers with."
        return self.e164 or self.raw


def clean(raw):
    "Digits (and a leading +) only, without IP-dialling prefixes."
    value = _NON_DIGITS.sub('', raw or '')
    if value.startswith('00'):
        value = '+' + value[2:]
    for prefix in IP_PREFIXES:
        if value.startswith(prefix) and len(value) > len(prefix) + 7:
            value = value[len(prefix):]
            break
    return value


def _candidates(value, local_area_code):
    yield value
    match = _MOBILE_WITH_TRUNK_ZERO.match(value)
    if match:
        yield match.group(1)
    if value.startswith('86') and len(value) >= 12:
        yield '+' + value
    if local_area_code and 7 <= len(value) <= 8 and value[0] not in '01':
        yield '0' + local_area_code.lstrip('0') + value


def split_region(description):
    "'广东省深圳市' → ('广东省', '深圳市'); '北京市' → ('北京市', '北京市')."
    if not description:
        return None, None
    if description in _MUNICIPALITIES:
        return description, description
    match = _PROVINCE.match(description)
    if match:
        return match.group(1), match.group(2) or None
    for name in ('内蒙古', '广西', '西藏', '宁夏', '新疆'):
        if description.startswith(name):
            return name, description[len(name):] or None
    return description, None


def parse(raw, default_region='CN', local_area_code=None, lang='zh'):
    "Return the CallerNumber for a raw number; invalid numbers keep raw only."
    value = clean(raw)
    if not value:
        return CallerNumber(raw=raw or '')
    for candidate in _candidates(value, local_area_code):
        try:
            number = phonenumbers.parse(candidate, default_region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return _describe(raw, number, lang)
    return CallerNumber(raw=raw)


def _describe(raw, number, lang):
    country = phonenumbers.region_code_for_number(number)
    description = geocoder.description_for_number(number, lang)
    province = city = None
    if country == 'CN':
        if description and description != geocoder.country_name_for_number(
                number, lang):
            province, city = split_region(description)
    elif description:
        province = description
    return CallerNumber(
        raw=raw,
        e164=phonenumbers.format_number(
            number, phonenumbers.PhoneNumberFormat.E164),
        valid=True,
        country=country,
        province=province,
        city=city,
        carrier=carrier.name_for_number(number, lang) or None,
        line_type=LINE_TYPES.get(phonenumbers.number_type(number), 'other'),
        )
