"""Tests of the pure SLA engine (no database)."""
import datetime as dt
import unittest

from hypothesis import assume, given, settings, strategies as st

from trytond.modules.cc_base.sla_clock import (
    BREACHED, CHINESE_CALENDAR_YEARS, MET, ON_TIME, PAUSED, SHANGHAI,
    WARNING, BusinessCalendar, SLAClock)

UTC = dt.timezone.utc


def cst(*args):
    "Naive UTC datetime of an Asia/Shanghai wall-clock time."
    return dt.datetime(*args, tzinfo=SHANGHAI).astimezone(UTC).replace(
        tzinfo=None)


STANDARD = BusinessCalendar.standard()
LUNCH = BusinessCalendar(
    {d: [('09:00', '12:00'), ('13:30', '18:00')] for d in range(5)})


class CalendarDaysTestCase(unittest.TestCase):

    def test_chinese_range(self):
        self.assertEqual(CHINESE_CALENDAR_YEARS[0], 2004)
        self.assertGreaterEqual(CHINESE_CALENDAR_YEARS[1], 2025)

    def test_national_day_2025(self):
        for day in range(1, 9):
            self.assertEqual(
                STANDARD.day_kind(dt.date(2025, 10, day)), 'holiday', day)
            self.assertFalse(STANDARD.is_workday(dt.date(2025, 10, day)))
        # Sunday 28 September and Saturday 11 October are make-up workdays.
        self.assertEqual(STANDARD.day_kind(dt.date(2025, 9, 28)), 'makeup')
        self.assertEqual(STANDARD.day_kind(dt.date(2025, 10, 11)), 'makeup')
        self.assertEqual(
            STANDARD.hours(dt.date(2025, 10, 11)), ((540, 1080),))
        # An ordinary Saturday stays closed.
        self.assertFalse(STANDARD.is_workday(dt.date(2025, 10, 18)))

    def test_makeup_hours_configurable(self):
        cal = BusinessCalendar.standard(makeup_hours=[('10:00', '15:00')])
        self.assertEqual(cal.hours(dt.date(2025, 10, 11)), ((600, 900),))
        self.assertEqual(cal.hours(dt.date(2025, 10, 10)), ((540, 1080),))

    def test_without_chinese_holidays(self):
        cal = BusinessCalendar.standard(chinese_holidays=False)
        self.assertTrue(cal.is_workday(dt.date(2025, 10, 1)))
        self.assertFalse(cal.is_workday(dt.date(2025, 9, 28)))

    def test_fallback_outside_data(self):
        "Outside chinese_calendar's years only the weekly hours apply."
        year = CHINESE_CALENDAR_YEARS[1] + 1
        new_year = dt.date(year, 1, 1)
        self.assertEqual(STANDARD.day_kind(new_year), 'weekly')
        self.assertEqual(
            STANDARD.is_workday(new_year), new_year.weekday() < 5)
        self.assertEqual(STANDARD.day_kind(dt.date(2003, 10, 1)), 'weekly')
        # And adding time across the boundary does not raise.
        start = cst(CHINESE_CALENDAR_YEARS[1], 12, 31, 17, 0)
        self.assertGreater(STANDARD.add_business_minutes(start, 600), start)

    def test_extra_days(self):
        cal = BusinessCalendar.standard(
            extra_holidays=[dt.date(2025, 6, 10)],
            extra_workdays=[dt.date(2025, 6, 14), dt.date(2025, 10, 2)])
        self.assertFalse(cal.is_workday(dt.date(2025, 6, 10)))
        self.assertEqual(cal.day_kind(dt.date(2025, 6, 14)), 'extra_workday')
        # An extra workday wins over a statutory holiday (on-call day).
        self.assertTrue(cal.is_workday(dt.date(2025, 10, 2)))

    def test_invalid(self):
        with self.assertRaises(ValueError):
            BusinessCalendar({})
        with self.assertRaises(ValueError):
            BusinessCalendar({0: [('18:00', '09:00')]})
        with self.assertRaises(ValueError):
            BusinessCalendar({7: [('09:00', '18:00')]})
        with self.assertRaises(ValueError):
            STANDARD.add_business_minutes(cst(2025, 1, 2, 9), -1)

    def test_midnight_end(self):
        cal = BusinessCalendar({0: [(dt.time(20), dt.time(0))]},
            chinese_holidays=False)
        self.assertEqual(cal.hours(dt.date(2025, 6, 9)), ((1200, 1440),))


class BusinessArithmeticTestCase(unittest.TestCase):

    def test_same_day(self):
        start = cst(2025, 6, 10, 10, 0)
        self.assertEqual(
            STANDARD.add_business_minutes(start, 90), cst(2025, 6, 10, 11, 30))

    def test_before_opening(self):
        self.assertEqual(
            STANDARD.add_business_minutes(cst(2025, 6, 10, 6, 0), 30),
            cst(2025, 6, 10, 9, 30))

    def test_weekend(self):
        # Friday 17:00 + 2 h -> Monday 10:00
        self.assertEqual(
            STANDARD.add_business_minutes(cst(2025, 6, 13, 17, 0), 120),
            cst(2025, 6, 16, 10, 0))

    def test_lunch_break(self):
        self.assertEqual(
            LUNCH.add_business_minutes(cst(2025, 6, 10, 11, 30), 60),
            cst(2025, 6, 10, 14, 0))
        self.assertEqual(
            LUNCH.business_minutes_between(
                cst(2025, 6, 10, 11, 0), cst(2025, 6, 10, 14, 0)), 90)

    def test_national_day(self):
        # Tuesday 30 September 17:00 + 2 h: the holiday runs 1-8 October,
        # so the second hour falls on Thursday 9 October.
        self.assertEqual(
            STANDARD.add_business_minutes(cst(2025, 9, 30, 17, 0), 120),
            cst(2025, 10, 9, 10, 0))
        self.assertEqual(STANDARD.business_minutes_between(
            cst(2025, 9, 30, 17, 0), cst(2025, 10, 9, 10, 0)), 120)

    def test_makeup_saturday(self):
        # Friday 10 October 17:30 + 1 h reaches Saturday 11 October (make-up).
        self.assertEqual(
            STANDARD.add_business_minutes(cst(2025, 10, 10, 17, 30), 60),
            cst(2025, 10, 11, 9, 30))
        # Saturday 27 September is closed; Sunday 28 is a make-up day.
        self.assertEqual(
            STANDARD.add_business_minutes(cst(2025, 9, 27, 10, 0), 30),
            cst(2025, 9, 28, 9, 30))

    def test_spring_festival_2025(self):
        # Holiday 28 January - 4 February, make-up Sunday 26 January and
        # Saturday 8 February. Monday 27 January 17:00 + 3 h.
        self.assertEqual(
            STANDARD.add_business_minutes(cst(2025, 1, 27, 17, 0), 180),
            cst(2025, 2, 5, 11, 0))
        self.assertEqual(
            STANDARD.add_business_minutes(cst(2025, 1, 25, 12, 0), 60),
            cst(2025, 1, 26, 10, 0))
        self.assertEqual(STANDARD.business_minutes_between(
            cst(2025, 1, 24, 9, 0), cst(2025, 2, 10, 9, 0)),
            540 * 7)  # 24, 26 (make-up), 27 Jan; 5, 6, 7, 8 (make-up) Feb

    def test_zero_and_negative_between(self):
        start = cst(2025, 6, 10, 10, 0)
        self.assertEqual(STANDARD.add_business_minutes(start, 0), start)
        self.assertEqual(STANDARD.business_minutes_between(start, start), 0)
        self.assertEqual(STANDARD.business_minutes_between(
            cst(2025, 6, 10, 11, 0), start), -60)

    def test_aware_in_aware_out(self):
        start = dt.datetime(2025, 9, 30, 17, tzinfo=SHANGHAI)
        result = STANDARD.add_business_minutes(start, 120)
        self.assertEqual(result, dt.datetime(2025, 10, 9, 10, tzinfo=SHANGHAI))
        self.assertEqual(result.utcoffset(), dt.timedelta(hours=8))
        naive = STANDARD.add_business_minutes(cst(2025, 9, 30, 17), 120)
        self.assertIsNone(naive.tzinfo)

    def test_is_open_next_open(self):
        self.assertTrue(STANDARD.is_open(cst(2025, 6, 10, 9, 0)))
        self.assertFalse(STANDARD.is_open(cst(2025, 6, 10, 18, 0)))
        self.assertFalse(STANDARD.is_open(cst(2025, 10, 1, 10, 0)))
        self.assertEqual(
            STANDARD.next_open(cst(2025, 10, 1, 10, 0)), cst(2025, 10, 9, 9))
        self.assertEqual(
            STANDARD.next_open(cst(2025, 6, 10, 10)), cst(2025, 6, 10, 10))

    def test_open_intervals(self):
        self.assertEqual(
            list(LUNCH.open_intervals(
                cst(2025, 6, 10, 10), cst(2025, 6, 11, 10))), [
                (cst(2025, 6, 10, 10), cst(2025, 6, 10, 12)),
                (cst(2025, 6, 10, 13, 30), cst(2025, 6, 10, 18)),
                (cst(2025, 6, 11, 9), cst(2025, 6, 11, 10))])

    def test_always_open(self):
        cal = BusinessCalendar.always_open()
        start = cst(2025, 10, 1, 23, 0)
        self.assertEqual(
            cal.add_business_minutes(start, 180), start + dt.timedelta(hours=3))

    def test_night_shift_over_midnight(self):
        cal = BusinessCalendar(
            {0: [('20:00', '24:00')], 1: [('00:00', '06:00')]},
            chinese_holidays=False)
        self.assertEqual(
            cal.add_business_minutes(cst(2025, 6, 9, 23, 0), 120),
            cst(2025, 6, 10, 1, 0))


class SLAClockTestCase(unittest.TestCase):

    def test_status_progression(self):
        start = cst(2025, 6, 10, 9, 0)
        clock = SLAClock(STANDARD, 100, warning_share=0.8)
        clock.start(start)
        self.assertEqual(clock.status(start), ON_TIME)
        self.assertEqual(clock.warning_at(), cst(2025, 6, 10, 10, 20))
        self.assertEqual(clock.deadline(), cst(2025, 6, 10, 10, 40))
        self.assertEqual(clock.next_deadline(start), cst(2025, 6, 10, 10, 20))
        self.assertEqual(clock.status(cst(2025, 6, 10, 10, 20)), WARNING)
        self.assertEqual(
            clock.next_deadline(cst(2025, 6, 10, 10, 30)),
            cst(2025, 6, 10, 10, 40))
        self.assertEqual(clock.status(cst(2025, 6, 10, 10, 40)), BREACHED)
        self.assertIsNone(clock.next_deadline(cst(2025, 6, 10, 11)))

    def test_pause_keeps_elapsed(self):
        clock = SLAClock(STANDARD, 120)
        clock.start(cst(2025, 9, 30, 16, 0))
        clock.pause(cst(2025, 9, 30, 17, 0))
        self.assertEqual(clock.elapsed, dt.timedelta(hours=1))
        self.assertEqual(clock.status(cst(2025, 10, 20)), PAUSED)
        self.assertIsNone(clock.deadline())
        self.assertIsNone(clock.next_deadline(cst(2025, 10, 20)))
        # Paused across the National Day week, resumed on a Monday.
        clock.resume(cst(2025, 10, 13, 9, 0))
        self.assertEqual(clock.deadline(), cst(2025, 10, 13, 10, 0))
        # Pausing or resuming twice changes nothing.
        clock.resume(cst(2025, 10, 13, 9, 30))
        self.assertEqual(clock.deadline(), cst(2025, 10, 13, 10, 0))

    def test_stop(self):
        clock = SLAClock(STANDARD, 60)
        clock.start(cst(2025, 6, 10, 9))
        clock.stop(cst(2025, 6, 10, 9, 30))
        self.assertEqual(clock.status(cst(2025, 6, 20)), MET)
        with self.assertRaises(ValueError):
            clock.start(cst(2025, 6, 20))

    def test_breach_stays(self):
        clock = SLAClock(STANDARD, 60)
        clock.start(cst(2025, 6, 10, 9))
        clock.stop(cst(2025, 6, 10, 11))
        self.assertEqual(clock.status(cst(2025, 6, 20)), BREACHED)

    def test_resume_after_budget_spent(self):
        clock = SLAClock(STANDARD, 60, warning_share=0.5)
        clock.start(cst(2025, 6, 10, 9))
        clock.pause(cst(2025, 6, 10, 9, 40))
        clock.resume(cst(2025, 6, 11, 9))
        self.assertEqual(clock.warning_at(), cst(2025, 6, 11, 9))
        self.assertEqual(clock.deadline(), cst(2025, 6, 11, 9, 20))

    def test_invalid(self):
        with self.assertRaises(ValueError):
            SLAClock(STANDARD, 0)
        with self.assertRaises(ValueError):
            SLAClock(STANDARD, 10, warning_share=1.5)


# -- properties --------------------------------------------------------------
CALENDARS = st.sampled_from([
        STANDARD, LUNCH, BusinessCalendar.always_open(),
        BusinessCalendar({5: [('10:00', '16:00')], 6: [('10:00', '16:00')]}),
        BusinessCalendar(
            {d: [('08:00', '20:00')] for d in range(7)},
            extra_holidays=[dt.date(2026, 2, 20)]),
        ])
# From the first year of statutory data to two years past the last one.
MOMENTS = st.datetimes(
    min_value=dt.datetime(2004, 1, 1),
    max_value=dt.datetime(CHINESE_CALENDAR_YEARS[1] + 2, 12, 1))
DURATIONS = st.integers(min_value=0, max_value=20 * 24 * 60 * 10).map(
    lambda s: dt.timedelta(seconds=s * 3))


class PropertyTestCase(unittest.TestCase):

    @settings(max_examples=300, deadline=None)
    @given(CALENDARS, MOMENTS, DURATIONS)
    def test_add_then_between(self, cal, start, delta):
        end = cal.add_business_time(start, delta)
        self.assertGreaterEqual(end, start)
        self.assertEqual(cal.business_time_between(start, end), delta)
        # Business time never exceeds wall time.
        self.assertLessEqual(delta, end - start)

    @settings(max_examples=200, deadline=None)
    @given(CALENDARS, MOMENTS, DURATIONS, DURATIONS)
    def test_add_composes(self, cal, start, first, second):
        assume(first)
        self.assertEqual(
            cal.add_business_time(cal.add_business_time(start, first), second),
            cal.add_business_time(start, first + second))

    @settings(max_examples=200, deadline=None)
    @given(CALENDARS, MOMENTS, DURATIONS, DURATIONS)
    def test_between_additive(self, cal, a, first, second):
        b = a + first
        c = b + second
        self.assertEqual(
            cal.business_time_between(a, c),
            cal.business_time_between(a, b) + cal.business_time_between(b, c))

    @settings(max_examples=200, deadline=None)
    @given(CALENDARS, MOMENTS, DURATIONS)
    def test_earliest(self, cal, start, delta):
        "The result is the earliest moment: one second before is short."
        assume(delta)
        end = cal.add_business_time(start, delta)
        self.assertLess(
            cal.business_time_between(start, end - dt.timedelta(seconds=1)),
            delta)

    @settings(max_examples=200, deadline=None)
    @given(CALENDARS, MOMENTS)
    def test_next_open_is_open(self, cal, moment):
        opening = cal.next_open(moment)
        self.assertGreaterEqual(opening, moment)
        self.assertTrue(cal.is_open(opening))
        self.assertEqual(cal.business_time_between(moment, opening),
            dt.timedelta(0))

    @settings(max_examples=200, deadline=None)
    @given(CALENDARS, MOMENTS, DURATIONS)
    def test_aware_matches_naive(self, cal, start, delta):
        aware = start.replace(tzinfo=UTC).astimezone(SHANGHAI)
        self.assertEqual(
            cal.add_business_time(aware, delta).astimezone(UTC).replace(
                tzinfo=None),
            cal.add_business_time(start, delta))

    @settings(max_examples=150, deadline=None)
    @given(CALENDARS, MOMENTS,
        st.lists(st.integers(min_value=0, max_value=60 * 24 * 6),
            min_size=1, max_size=8),
        st.integers(min_value=1, max_value=60 * 24))
    def test_clock_pauses_lose_nothing(self, cal, start, steps, target):
        """Whatever the pause/resume pattern, the clock's elapsed time is the
        business time of the running segments, and its deadline, taken
        while running, is where the remaining budget runs out."""
        clock = SLAClock(cal, target)
        moment, running, expected = start, True, dt.timedelta(0)
        clock.start(moment)
        for step in steps:
            after = moment + dt.timedelta(minutes=step)
            if running:
                expected += cal.business_time_between(moment, after)
                clock.pause(after)
            else:
                clock.resume(after)
            moment, running = after, not running
        self.assertEqual(clock.elapsed_at(moment), expected)
        if running:
            deadline = clock.deadline()
            if expected < clock.target:
                self.assertEqual(
                    clock.elapsed_at(deadline), clock.target)
                self.assertEqual(clock.status(deadline), BREACHED)
            else:
                self.assertEqual(clock.status(moment), BREACHED)
        else:
            self.assertIsNone(clock.deadline())
            self.assertIn(clock.status(moment), {PAUSED, BREACHED})


if __name__ == '__main__':
    unittest.main()
