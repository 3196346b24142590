from trytond.cache import Cache
from trytond.model import ModelSingleton, ModelSQL, ModelView, fields


class Configuration(ModelSingleton, ModelSQL, ModelView):
    __name__ = 'cc.configuration'
    __string__ = "Contact Center Configuration"
    phone_region = fields.Char(
        "Default Phone Region", required=True, size=2,
        help="ISO country code used for numbers without an international "
        "prefix.")
    local_area_code = fields.Char(
        "Local Area Code",
        help="Area code of the centre (e.g. 010): prepended to local "
        "fixed-line numbers that a PBX delivers without it.")

    @classmethod
    def default_phone_region(cls):
        return 'CN'

    @classmethod
    def default_local_area_code(cls):
        return '010'

    _caller_options_cache = Cache('cc.configuration.caller_options',
        context=False)

    @classmethod
    def caller_options(cls):
        "Options for number.parse as configured (cached: every call uses it)."
        options = cls._caller_options_cache.get(None)
        if options is None:
            config = cls(1)
            options = cls._caller_options_cache.set(None, {
                    'default_region': config.phone_region or 'CN',
                    'local_area_code': config.local_area_code,
                    })
        return options

    @classmethod
    def on_modification(cls, mode, records, field_names=None):
        super().on_modification(mode, records, field_names=field_names)
        cls._caller_options_cache.clear()
