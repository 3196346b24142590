"""Named business calendars (opening hours, holidays) for SLA targets."""
import datetime as dt
import functools

from trytond.cache import Cache
from trytond.model import (
    DeactivableMixin, ModelSQL, ModelView, fields)
from trytond.model.exceptions import ValidationError
from trytond.i18n import gettext
from trytond.pool import Pool

from .sla_clock import BusinessCalendar

WEEKDAYS = [
    ('0', "Monday"),
    ('1', "Tuesday"),
    ('2', "Wednesday"),
    ('3', "Thursday"),
    ('4', "Friday"),
    ('5', "Saturday"),
    ('6', "Sunday"),
    ]


@functools.lru_cache(maxsize=64)
def _engine(definition):
    "One engine per distinct definition so its day cache is shared."
    weekly, chinese, makeup, holidays, workdays = definition
    weekly_hours = {}
    for weekday, start, end in weekly:
        weekly_hours.setdefault(weekday, []).append((start, end))
    return BusinessCalendar(
        weekly_hours, chinese_holidays=chinese,
        makeup_hours=[(s, e) for _, s, e in weekly if _ == makeup] or None,
        extra_holidays=holidays, extra_workdays=workdays)


class Calendar(DeactivableMixin, ModelSQL, ModelView):
    __string__ = "Business Calendar"
    __name__ = 'cc.calendar'
    name = fields.Char("Name", required=True, translate=True)
    chinese_holidays = fields.Boolean(
        "Chinese Public Holidays",
        help="Close on statutory holidays and open on make-up workdays "
        "(调休) as published by the State Council.")
    makeup_weekday = fields.Selection(
        WEEKDAYS, "Make-up Days Follow", sort=False, required=True,
        help="Weekday whose opening hours apply on make-up workdays and "
        "extra workdays.")
    lines = fields.One2Many(
        'cc.calendar.line', 'calendar', "Opening Hours")
    days = fields.One2Many('cc.calendar.day', 'calendar', "Special Days")
    _definition_cache = Cache('cc.calendar.definition', context=False)

    @classmethod
    def default_chinese_holidays(cls):
        return True

    @classmethod
    def default_makeup_weekday(cls):
        return '0'

    @classmethod
    def validate(cls, calendars):
        super().validate(calendars)
        for calendar in calendars:
            calendar.check_open()

    def check_open(self):
        if not self.lines:
            # Still being set up (lines are created after the calendar).
            return
        try:
            self._build()
        except ValueError as exception:
            raise ValidationError(gettext(
                    'cc_base.msg_calendar_invalid',
                    calendar=self.rec_name, error=str(exception)))

    def _definition(self):
        "Hashable description of the calendar (cached between requests)."
        return (
            tuple(sorted(
                    (int(l.weekday), l.start_time, l.end_time)
                    for l in self.lines)),
            bool(self.chinese_holidays),
            int(self.makeup_weekday or 0),
            frozenset(d.date for d in self.days if d.kind == 'holiday'),
            frozenset(d.date for d in self.days if d.kind == 'workday'))

    def _build(self):
        return _engine(self._definition())

    @classmethod
    def engine(cls, calendar_id):
        """The :class:`BusinessCalendar` of a calendar id; ``None`` gives
        the default Monday-Friday 09:00-18:00 Chinese calendar."""
        if calendar_id is None:
            return _standard()
        definition = cls._definition_cache.get(calendar_id)
        if definition is None:
            definition = cls(calendar_id)._definition()
            cls._definition_cache.set(calendar_id, definition)
        if not definition[0]:
            # A calendar without opening hours is not set up yet.
            return _standard()
        return _engine(definition)

    @classmethod
    def on_modification(cls, mode, records, field_names=None):
        super().on_modification(mode, records, field_names=field_names)
        cls._definition_cache.clear()


@functools.lru_cache(maxsize=1)
def _standard():
    return BusinessCalendar.standard()


class CalendarLine(ModelSQL, ModelView):
    __string__ = "Business Calendar Opening Hours"
    __name__ = 'cc.calendar.line'
    calendar = fields.Many2One(
        'cc.calendar', "Calendar", required=True, ondelete='CASCADE')
    weekday = fields.Selection(WEEKDAYS, "Weekday", required=True, sort=False)
    start_time = fields.Time("From", required=True)
    end_time = fields.Time(
        "To", required=True, help="00:00 means midnight at the end of the day.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order.insert(0, ('weekday', 'ASC'))
        cls._order.insert(1, ('start_time', 'ASC'))

    @classmethod
    def validate(cls, lines):
        super().validate(lines)
        for line in lines:
            if (line.end_time != dt.time(0)
                    and line.end_time <= line.start_time):
                raise ValidationError(gettext(
                        'cc_base.msg_calendar_line_order',
                        calendar=line.calendar.rec_name))
        Pool().get('cc.calendar').validate(list({l.calendar for l in lines}))

    @classmethod
    def on_modification(cls, mode, records, field_names=None):
        super().on_modification(mode, records, field_names=field_names)
        Pool().get('cc.calendar')._definition_cache.clear()


class CalendarDay(ModelSQL, ModelView):
    __string__ = "Business Calendar Special Day"
    __name__ = 'cc.calendar.day'
    calendar = fields.Many2One(
        'cc.calendar', "Calendar", required=True, ondelete='CASCADE')
    date = fields.Date("Date", required=True)
    kind = fields.Selection([
            ('holiday', "Closed"),
            ('workday', "Open"),
            ], "Kind", required=True)
    name = fields.Char("Description")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order.insert(0, ('date', 'DESC'))

    @classmethod
    def default_kind(cls):
        return 'holiday'

    @classmethod
    def on_modification(cls, mode, records, field_names=None):
        super().on_modification(mode, records, field_names=field_names)
        Pool().get('cc.calendar')._definition_cache.clear()
