from trytond.model import ModelSingleton, ModelSQL, ModelView, fields


class Configuration(ModelSingleton, ModelSQL, ModelView):
    "Contact Center Configuration"
    __name__ = 'cc.configuration'
    phone_region = fields.Char(
        "Default Phone Region", required=True, size=2,
        help="ISO country code used for numbers without an international "
        "prefix.")
    local_area_code = fields.Char(
        "Local Area Code",
        help="Area code of the centre (e.g. 010): prepended to local "
        "fixed-line numbers that a PBX delivers without it.")
    interaction_team_window = fields.Integer(
        "Last Agent Window (days)",
        help="How far back the last agent who served a caller is looked up.")

    @classmethod
    def default_phone_region(cls):
        return 'CN'

    @classmethod
    def default_local_area_code(cls):
        return '010'

    @classmethod
    def default_interaction_team_window(cls):
        return 30

    @classmethod
    def caller_options(cls):
        "Options for number.parse as configured."
        config = cls(1)
        return {
            'default_region': config.phone_region or 'CN',
            'local_area_code': config.local_area_code,
            }
