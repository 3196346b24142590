"""Business time on a Chinese business calendar, and a pausable SLA clock.

This module imports nothing from Tryton: ``cc_ticket`` uses it for ticket
deadlines and ``cc_telephony`` for queue opening hours.

Conventions
-----------
* Moments are :class:`datetime.datetime`. A *naive* datetime is UTC (the
  convention of Tryton's ``fields.DateTime``); an aware one may be in any
  zone. Every function returns moments in the convention it was given: naive
  UTC in, naive UTC out; aware in, aware (in the calendar's zone) out.
* Opening hours are wall-clock times in the calendar's zone, Asia/Shanghai by
  default (no daylight saving time since 1991, but any ``zoneinfo`` zone
  works).
* A day is *closed* when it is an extra holiday or a Chinese statutory
  holiday, *open with make-up hours* when it is a Chinese make-up workday
  (调休上班, e.g. Saturday 2025-09-28), and otherwise follows the weekly
  opening hours. Extra workdays override holidays. The statutory data come
  from ``chinese_calendar`` and cover :data:`CHINESE_CALENDAR_YEARS`; outside
  that range only the weekly hours and the extra days apply.

Example::

    cal = BusinessCalendar.standard()          # Mon-Fri 09:00-18:00
    due = cal.add_business_minutes(created, 8 * 60)
    clock = SLAClock(cal, target_minutes=480, warning_share=0.8)
    clock.start(created)
    clock.pause(waiting_since)                 # waiting for the customer
    clock.resume(answer_received)
    clock.status(now)                          # 'on_time', 'warning', ...
"""
import datetime as dt
import functools
from zoneinfo import ZoneInfo

try:
    # Statutory days off and make-up workdays (调休) by date, as published
    # by the State Council; read directly so a day's kind is one lookup.
    from chinese_calendar.constants import (
        holidays as _CN_HOLIDAYS, workdays as _CN_WORKDAYS)
except ImportError:  # the calendar still works on weekly hours alone
    _CN_HOLIDAYS, _CN_WORKDAYS = {}, {}

__all__ = [
    'SHANGHAI', 'CHINESE_CALENDAR_YEARS', 'BusinessCalendar', 'SLAClock',
    'ON_TIME', 'WARNING', 'BREACHED', 'PAUSED', 'MET', 'parse_time']

SHANGHAI = ZoneInfo('Asia/Shanghai')
if _CN_HOLIDAYS:
    CHINESE_CALENDAR_YEARS = (
        min(_CN_HOLIDAYS).year, max(_CN_HOLIDAYS).year)
else:
    CHINESE_CALENDAR_YEARS = None

ON_TIME, WARNING, BREACHED, PAUSED, MET = (
    'on_time', 'warning', 'breached', 'paused', 'met')

DAY_MINUTES = 24 * 60
# Searching further than this for open time means the calendar is (almost)
# never open: fail loudly instead of looping.
MAX_SEARCH_DAYS = 3 * 366
_UTC = dt.timezone.utc


def parse_time(value):
    """Return minutes after midnight for a ``time``, ``'HH:MM'`` or minutes.

    ``'24:00'`` is accepted as the end of the day.
    """
    if isinstance(value, dt.time):
        return value.hour * 60 + value.minute + value.second / 60
    if isinstance(value, str):
        hours, minutes = value.split(':')
        value = int(hours) * 60 + int(minutes)
    if not 0 <= value <= DAY_MINUTES:
        raise ValueError(f"time of day out of range: {value!r}")
    return value


def _normalise(intervals):
    """Return sorted, merged ``(start, end)`` minute pairs.

    An interval ending at 00:00 (or any end not after its start when given
    as 00:00) runs to midnight, which is how ``fields.Time`` spells 24:00.
    """
    pairs = []
    for start, end in intervals:
        start, end = parse_time(start), parse_time(end)
        if end == 0:
            end = DAY_MINUTES
        if end <= start:
            raise ValueError(
                f"opening interval ends before it starts: {start}-{end}")
        pairs.append((start, end))
    pairs.sort()
    merged = []
    for start, end in pairs:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return tuple(merged)


class BusinessCalendar:
    """Opening hours per weekday plus Chinese and extra holidays.

    :param weekly_hours: mapping weekday (0 = Monday) to an iterable of
        ``(start, end)`` times (``datetime.time``, ``'HH:MM'`` or minutes
        after midnight). Missing weekdays are closed.
    :param chinese_holidays: apply statutory holidays and make-up workdays
        from ``chinese_calendar``.
    :param makeup_hours: hours of a make-up workday; default: the first
        open weekday's hours (Monday's in a usual calendar).
    :param extra_holidays: dates closed on top of the statutory ones
        (company days off, local festivals).
    :param extra_workdays: dates open with ``makeup_hours`` whatever else
        says (a Sunday campaign, a holiday on-call day).
    :param tz: zone of the wall-clock opening hours.
    """

    def __init__(self, weekly_hours, chinese_holidays=True,
            makeup_hours=None, extra_holidays=(), extra_workdays=(),
            tz=SHANGHAI):
        self.weekly_hours = {
            int(day): _normalise(hours)
            for day, hours in weekly_hours.items()}
        for day in self.weekly_hours:
            if not 0 <= day <= 6:
                raise ValueError(f"weekday out of range: {day}")
        if makeup_hours is None:
            makeup_hours = next(
                (self.weekly_hours[d] for d in range(7)
                    if self.weekly_hours.get(d)), ())
        else:
            makeup_hours = _normalise(makeup_hours)
        self.makeup_hours = makeup_hours
        self.chinese_holidays = bool(chinese_holidays) and bool(_CN_HOLIDAYS)
        self.extra_holidays = frozenset(extra_holidays)
        self.extra_workdays = frozenset(extra_workdays)
        self.tz = tz
        if not any(self.weekly_hours.values()) and not (
                self.extra_workdays and self.makeup_hours):
            raise ValueError("calendar is never open")
        # Per-instance cache: a calendar is immutable once built.
        self._day_intervals = functools.lru_cache(maxsize=4096)(
            self._compute_day_intervals)

    @classmethod
    def standard(cls, start='09:00', end='18:00', **kwargs):
        "Monday to Friday from start to end, Chinese holidays applied."
        return cls({d: [(start, end)] for d in range(5)}, **kwargs)

    @classmethod
    def always_open(cls, **kwargs):
        "Open around the clock every day, holidays included (7x24 service)."
        kwargs.setdefault('chinese_holidays', False)
        return cls({d: [(0, DAY_MINUTES)] for d in range(7)}, **kwargs)

    # -- days ------------------------------------------------------------
    def day_kind(self, date):
        """Return ``'holiday'``, ``'makeup'``, ``'extra_workday'`` or
        ``'weekly'`` for a local date."""
        if date in self.extra_workdays:
            return 'extra_workday'
        if date in self.extra_holidays:
            return 'holiday'
        if self.chinese_holidays and self.in_chinese_range(date):
            if date in _CN_HOLIDAYS:
                return 'holiday'
            if date in _CN_WORKDAYS:
                return 'makeup'
        return 'weekly'

    @staticmethod
    def in_chinese_range(date):
        "Whether chinese_calendar has statutory data for the date's year."
        return bool(CHINESE_CALENDAR_YEARS) and (
            CHINESE_CALENDAR_YEARS[0] <= date.year
            <= CHINESE_CALENDAR_YEARS[1])

    def hours(self, date):
        "Opening ``(start, end)`` minute pairs of a local date."
        kind = self.day_kind(date)
        if kind == 'holiday':
            return ()
        if kind in {'makeup', 'extra_workday'}:
            return self.makeup_hours
        return self.weekly_hours.get(date.weekday(), ())

    def is_workday(self, date):
        "Whether the local date has any opening hours."
        return bool(self.hours(date))

    def _compute_day_intervals(self, date):
        """Open intervals of a local date as aware UTC datetimes.

        Converting each boundary through the zone keeps DST zones correct;
        for Asia/Shanghai it is a fixed +08:00.
        """
        midnight = dt.datetime.combine(date, dt.time(0))
        result = []
        for start, end in self.hours(date):
            result.append((
                self._local_to_utc(midnight + dt.timedelta(minutes=start)),
                self._local_to_utc(midnight + dt.timedelta(minutes=end))))
        return tuple(result)

    def _local_to_utc(self, naive_local):
        return naive_local.replace(tzinfo=self.tz).astimezone(_UTC)

    # -- moments ---------------------------------------------------------
    def _to_utc(self, moment):
        "Aware UTC datetime and whether the caller used naive datetimes."
        if moment.tzinfo is None:
            return moment.replace(tzinfo=_UTC), True
        return moment.astimezone(_UTC), False

    def _back(self, moment, naive):
        if naive:
            return moment.replace(tzinfo=None)
        return moment.astimezone(self.tz)

    def _local_date(self, utc_moment):
        return utc_moment.astimezone(self.tz).date()

    def _intervals_from(self, utc_moment):
        """Yield open UTC intervals that end after ``utc_moment``, clipped to
        start no earlier than it, in time order."""
        date = self._local_date(utc_moment) - dt.timedelta(days=1)
        for _ in range(MAX_SEARCH_DAYS):
            for start, end in self._day_intervals(date):
                if end > utc_moment:
                    yield max(start, utc_moment), end
            date += dt.timedelta(days=1)
        raise ValueError(
            f"no opening hours within {MAX_SEARCH_DAYS} days")

    def is_open(self, moment):
        "Whether the calendar is open at the moment."
        utc, _ = self._to_utc(moment)
        date = self._local_date(utc)
        for day in (date - dt.timedelta(days=1), date):
            for start, end in self._day_intervals(day):
                if start <= utc < end:
                    return True
        return False

    def next_open(self, moment):
        "The moment itself when open, else the next opening."
        utc, naive = self._to_utc(moment)
        start, _ = next(self._intervals_from(utc))
        return self._back(start, naive)

    def open_intervals(self, start, end):
        "Yield ``(from, to)`` open intervals overlapping ``[start, end)``."
        utc_start, naive = self._to_utc(start)
        utc_end, _ = self._to_utc(end)
        if utc_end <= utc_start:
            return
        for low, high in self._intervals_from(utc_start):
            if low >= utc_end:
                return
            yield self._back(low, naive), self._back(min(high, utc_end), naive)

    def add_business_time(self, start, delta):
        """The earliest moment at which ``delta`` of open time has elapsed
        since ``start`` (``start`` itself when ``delta`` is zero)."""
        if delta < dt.timedelta(0):
            raise ValueError("business time to add must not be negative")
        utc, naive = self._to_utc(start)
        if not delta:
            return start
        remaining = delta
        for low, high in self._intervals_from(utc):
            span = high - low
            if remaining <= span:
                return self._back(low + remaining, naive)
            remaining -= span

    def add_business_minutes(self, start, minutes):
        "``add_business_time`` with a number of minutes."
        return self.add_business_time(start, dt.timedelta(minutes=minutes))

    def business_time_between(self, start, end):
        """Open time between two moments as a ``timedelta`` (negative when
        ``end`` is before ``start``)."""
        if end < start:
            return -self.business_time_between(end, start)
        utc_start, _ = self._to_utc(start)
        utc_end, _ = self._to_utc(end)
        total = dt.timedelta(0)
        if utc_start == utc_end:
            return total
        for low, high in self._intervals_from(utc_start):
            if low >= utc_end:
                break
            total += min(high, utc_end) - low
        return total

    def business_minutes_between(self, start, end):
        "``business_time_between`` in (fractional) minutes."
        return self.business_time_between(start, end) / dt.timedelta(
            minutes=1)


class SLAClock:
    """A business-time stopwatch against a target.

    It runs only while started and not paused; pausing keeps the business
    time accumulated so far (``elapsed``), so a ticket that waits for the
    customer resumes where it stopped. Its whole state is four values,
    ``elapsed``, ``running_since``, ``stopped`` and the target, so a database
    row can rebuild it with :meth:`__init__`.

    :param target_minutes: business minutes allowed.
    :param warning_share: share of the target (0 < share <= 1) after which the
        status is ``'warning'``.
    """

    def __init__(self, calendar, target_minutes, warning_share=0.8,
            elapsed=dt.timedelta(0), running_since=None, stopped=False):
        if target_minutes <= 0:
            raise ValueError("target must be positive")
        if not 0 < warning_share <= 1:
            raise ValueError("warning share must be in (0, 1]")
        self.calendar = calendar
        self.target = dt.timedelta(minutes=target_minutes)
        self.warning_share = warning_share
        self.elapsed = elapsed
        self.running_since = running_since
        self.stopped = stopped

    @property
    def running(self):
        return self.running_since is not None

    def start(self, at):
        "Start (or resume) counting at ``at``; no effect when running."
        if self.stopped:
            raise ValueError("a stopped clock cannot start again")
        if self.running_since is None:
            self.running_since = at

    resume = start

    def pause(self, at):
        "Bank the business time run so far; no effect when paused."
        if self.running_since is not None:
            self.elapsed += self.calendar.business_time_between(
                self.running_since, max(at, self.running_since))
            self.running_since = None

    def stop(self, at):
        "Pause for good: the target was met (or missed) at ``at``."
        self.pause(at)
        self.stopped = True

    def reopen(self, at):
        "Run a stopped clock again, keeping the time it had counted."
        self.stopped = False
        self.start(at)

    def elapsed_at(self, now):
        "Business time counted up to ``now``."
        if self.running_since is None or now <= self.running_since:
            return self.elapsed
        return self.elapsed + self.calendar.business_time_between(
            self.running_since, now)

    def _due(self, budget):
        "Moment at which ``budget`` of business time will have elapsed."
        if self.running_since is None:
            return None
        left = budget - self.elapsed
        if left <= dt.timedelta(0):
            # Already spent before this run: the moment passed while running
            # earlier, so report the run's start.
            return self.running_since
        return self.calendar.add_business_time(self.running_since, left)

    @property
    def warning_budget(self):
        return self.target * self.warning_share

    def deadline(self):
        "Breach moment if the clock keeps running; None when paused."
        return self._due(self.target)

    def warning_at(self):
        "Warning moment if the clock keeps running; None when paused."
        return self._due(self.warning_budget)

    def next_deadline(self, now):
        """Next moment after ``now`` at which :meth:`status` changes, or
        None when it cannot change without a pause/resume/stop."""
        if self.stopped or self.running_since is None:
            return None
        spent = self.elapsed_at(now)
        if spent < self.warning_budget:
            return self.warning_at()
        if spent < self.target:
            return self.deadline()
        return None

    def status(self, now):
        """``'breached'`` once the target is used up (it stays so), else
        ``'met'`` when stopped, ``'paused'``, ``'warning'`` past the
        warning share, or ``'on_time'``."""
        spent = self.elapsed_at(now)
        if spent >= self.target:
            return BREACHED
        if self.stopped:
            return MET
        if self.running_since is None:
            return PAUSED
        if spent >= self.warning_budget:
            return WARNING
        return ON_TIME

    def remaining(self, now):
        "Business time left before the breach (negative once breached)."
        return self.target - self.elapsed_at(now)
