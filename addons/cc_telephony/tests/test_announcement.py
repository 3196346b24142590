"""Announcements: which one the router plays (pure engine), and the same
from announcements stored through the ORM (Router.decide)."""
import datetime as dt
import unittest

from trytond.model.exceptions import ValidationError
from trytond.modules.cc_telephony.router import (
    Router, configuration_stamp, utcnow)
from trytond.modules.cc_telephony.routing import (
    Announcement, Caller, Policy, Queue, Service, decide)
from trytond.pool import Pool
from trytond.tests.test_tryton import (
    DB_NAME, TestCase, activate_module, with_transaction)

from .test_routing import NOW, Calendar, agent, request

HOUR = dt.timedelta(hours=1)
SHENZHEN, BEIJING = Caller(region='广东省深圳市'), Caller(region='北京市')


def announcement(name='notice', kind='message', start=NOW - HOUR,
        end=NOW + HOUR, **kwargs):
    return Announcement(name, kwargs.pop('prompt', f'cc/{name}'), start, end,
        kind=kind, **kwargs)


def announced(*announcements, **kwargs):
    "The decision for a call to 95588 (service Sales, queue sales)."
    kwargs.setdefault('services', {'95588': Service('95588', "Sales",
                'sales', announcement='sales-welcome')})
    return decide(request(announcements=announcements, **kwargs))


class EngineTestCase(unittest.TestCase):
    "The announcement in force for a call, in routing.decide"

    def test_in_force_replaces_the_service_announcement(self):
        decision = announced(announcement('outage'))
        self.assertEqual(decision.announce, 'cc/outage')
        self.assertEqual(decision.variables()['CC_ANNOUNCE'], 'cc/outage')
        self.assertIn('announcement', decision.reasons)
        self.assertEqual(decision.steps[-1], ('announcement', {
                    'name': 'outage', 'prompt': 'cc/outage',
                    'region': None}))
        self.assertEqual(decision.explanation[-1], 'Announcement "outage" '
            'is in force: the caller hears cc/outage first.')

    def test_window_starts_inclusive_and_ends_exclusive(self):
        for start, end, played in [
                (NOW, NOW + HOUR, True),
                (NOW - HOUR, NOW, False),
                (NOW + dt.timedelta(seconds=1), NOW + HOUR, False),
                (NOW - 2 * HOUR, NOW - HOUR, False)]:
            with self.subTest(start=start, end=end):
                decision = announced(announcement(start=start, end=end))
                self.assertEqual(decision.announce,
                    'cc/notice' if played else 'sales-welcome')
                self.assertEqual('announcement' in decision.reasons, played)

    def test_dialled_number_must_match(self):
        notice = announcement(services=frozenset({'95588'}))
        self.assertEqual(announced(notice).announce, 'cc/notice')
        other = announcement(services=frozenset({'10086'}))
        self.assertEqual(announced(other).announce, 'sales-welcome')
        # An unknown number goes to the default queue, no service's.
        self.assertIsNone(announced(notice, dnis='4000',
                policy=Policy(default_queue='sales')).announce)

    def test_queue_is_the_one_the_caller_joins(self):
        queues = {
            'sales': Queue('sales', calendar=Calendar(False),
                night_kind='queue', night_queue='night'),
            'night': Queue('night'),
            }
        day = announcement('day', queues=frozenset({'sales'}))
        night = announcement('night', queues=frozenset({'night'}))
        decision = announced(day, night, queues=queues)
        self.assertEqual((decision.action, decision.queue), ('night', 'night'))
        self.assertEqual(decision.announce, 'cc/night')

    def test_region_targeted_urgent_notice_before_promotion(self):
        promotion = announcement('promotion', kind='promotion', sequence=1)
        outage = announcement('outage', kind='urgent', sequence=50,
            regions=('广东省',))
        for caller, prompt in [
                (SHENZHEN, 'cc/outage'),
                (BEIJING, 'cc/promotion'),
                (Caller(), 'cc/promotion')]:
            with self.subTest(caller=caller.region):
                self.assertEqual(announced(promotion, outage,
                        caller=caller).announce, prompt)
        decision = announced(promotion, outage, caller=SHENZHEN)
        self.assertEqual(decision.steps[-1][0], 'urgent_notice_region')
        self.assertEqual(decision.explanation[-1], 'Urgent notice "outage" '
            'is in force for callers from 广东省: the caller hears '
            'cc/outage first.')

    def test_lowest_sequence_among_the_others(self):
        first = announcement('holiday', kind='holiday', sequence=5)
        second = announcement('product', kind='product', sequence=10)
        self.assertEqual(announced(second, first).announce, 'cc/holiday')
        urgent = announcement('urgent', kind='urgent', sequence=99)
        decision = announced(second, first, urgent)
        self.assertEqual(decision.announce, 'cc/urgent')
        self.assertEqual(decision.steps[-1][0], 'urgent_notice')

    def test_callers_not_queued_hear_none(self):
        outage = announcement('outage', kind='urgent')
        blocked = announced(outage, caller=Caller(list_status='black'))
        self.assertEqual((blocked.action, blocked.announce), ('reject', None))
        self.assertNotIn('announcement', blocked.reasons)
        closed = {'sales': Queue('sales', calendar=Calendar(False))}
        night = announced(outage, queues=closed)
        self.assertEqual(night.target, 'voicemail')
        self.assertNotIn('announcement', night.reasons)
        busy = {'sales': Queue('sales', busy_action='voicemail')}
        decision = announced(outage, queues=busy,
            agents=[agent('PJSIP/1', state='talking')])
        self.assertEqual(decision.action, 'voicemail')
        self.assertNotIn('announcement', decision.reasons)

    def test_callback_offer_keeps_the_announcement(self):
        busy = {'sales': Queue('sales', busy_action='callback')}
        decision = announced(announcement(), queues=busy,
            agents=[agent('PJSIP/1', state='talking')])
        self.assertEqual((decision.action, decision.announce),
            ('callback', 'cc/notice'))


class AnnouncementTestCase(TestCase):
    """Announcements stored through the ORM and played by the router.

    Their windows are relative to the present (``self.now``): the router
    loads only those that have not ended."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        activate_module('cc_telephony')

    def setup_center(self):
        "Queues sales and support behind 95588 and 95599; 13900139000 barred."
        pool = Pool()
        Queue = pool.get('cc.queue')
        Dnis = pool.get('cc.dnis')
        Pbx = pool.get('cc.pbx')
        ListEntry = pool.get('cc.list.entry')
        sales, support = Queue.create([
                {'name': "Sales", 'code': 'sales',
                    'announcement': 'sales-welcome'},
                {'name': "Support", 'code': 'support'}])
        Dnis.create([
                {'number': '95588', 'service': "Sales", 'queue': sales.id},
                {'number': '95599', 'service': "Support",
                    'queue': support.id}])
        Pbx.create([{'name': "Main", 'code': 'main', 'ami_username': 'cc',
                    'default_queue': sales.id}])
        self.now = utcnow().replace(microsecond=0)
        ListEntry.create([{'list_type': 'black', 'number': '13900139000',
                    'reason': "Abuse",
                    'valid_from': self.now - dt.timedelta(1)}])
        return Router(DB_NAME, pbx_code='main', cache_seconds=60)

    def create(self, name, kind='message', start=-HOUR, end=HOUR, **values):
        "An announcement from ``start`` to ``end`` relative to ``self.now``."
        Announcement = Pool().get('cc.announcement')
        values.setdefault('prompt', f'cc/{name}')
        announcement, = Announcement.create([dict(name=name, kind=kind,
                    valid_from=self.now + start, valid_to=self.now + end,
                    **values)])
        return announcement

    def decide(self, router, caller='13700137000', dnis='95588', later=None):
        "The decision for a call ``later`` after ``self.now``."
        return router.decide({'uniqueid': 'x', 'caller_raw': caller,
                'dnis': dnis}, self.now + (later or dt.timedelta(0)))

    def announce(self, router, **call):
        return self.decide(router, **call).variables()['CC_ANNOUNCE']

    def ids(self, model, field, *values):
        return [r.id for r in Pool().get(model).search([(field, 'in', values)])]

    @with_transaction()
    def test_window_in_force_expired_future(self):
        "Each window is judged at the moment of the call, from one snapshot"
        router = self.setup_center()
        self.create('summer', start=HOUR, end=3 * HOUR)
        self.assertEqual(self.announce(router), 'sales-welcome')
        loaded_at = router.snapshot.loaded_at
        self.assertEqual(self.announce(router, later=2 * HOUR), 'cc/summer')
        self.assertEqual(self.announce(router, later=3 * HOUR),
            'sales-welcome')
        self.assertEqual(router.snapshot.loaded_at, loaded_at)

    @with_transaction()
    def test_service_and_queue_match(self):
        router = self.setup_center()
        self.create('sales-number', sequence=1,
            services=[('add', self.ids('cc.dnis', 'number', '95588'))])
        self.create('support-queue', sequence=2,
            queues=[('add', self.ids('cc.queue', 'code', 'support'))])
        self.assertEqual(self.announce(router), 'cc/sales-number')
        self.assertEqual(self.announce(router, dnis='95599'),
            'cc/support-queue')
        # An unknown number: the default queue sales, not number 95588.
        self.assertEqual(self.announce(router, dnis='4000'), 'sales-welcome')

    @with_transaction()
    def test_region_urgent_notice_and_promotion(self):
        "Shenzhen callers hear the outage notice, Beijing the promotion"
        router = self.setup_center()
        self.create('promotion', kind='promotion', sequence=1)
        self.create('outage', kind='urgent', sequence=20,
            regions='广东省，海南省')
        self.assertEqual(self.announce(router, caller='075583765566'),
            'cc/outage')
        self.assertEqual(self.announce(router, caller='13800138000'),
            'cc/promotion')
        decision = self.decide(router, caller='075583765566')
        self.assertEqual(decision.steps[-1], ('urgent_notice_region',
                {'name': 'outage', 'prompt': 'cc/outage',
                    'region': '广东省'}))

    @with_transaction()
    def test_blacklisted_caller_hears_nothing(self):
        router = self.setup_center()
        self.create('outage', kind='urgent')
        decision = self.decide(router, caller='13900139000')
        self.assertEqual(decision.action, 'reject')
        self.assertEqual(decision.variables()['CC_ANNOUNCE'], '')

    @with_transaction()
    def test_inactive_announcement_is_not_played(self):
        router = self.setup_center()
        self.create('old', active=False)
        self.assertEqual(self.announce(router), 'sales-welcome')

    @with_transaction()
    def test_changes_reach_the_stamp(self):
        "Creating or retargeting an announcement changes the configuration"
        pool = Pool()
        Announcement = pool.get('cc.announcement')
        self.setup_center()
        stamp = configuration_stamp(pool)
        outage = self.create('outage')
        changes = [
            lambda: Announcement.write([outage], {'services': [
                        ('add', self.ids('cc.dnis', 'number', '95588'))]}),
            lambda: Announcement.write([outage], {'queues': [
                        ('add', self.ids('cc.queue', 'code', 'sales'))]}),
            lambda: Announcement.write([outage], {'queues': [
                        ('remove', self.ids('cc.queue', 'code', 'sales'))]}),
            ]
        for change in [None] + changes:
            with self.subTest(change=change):
                if change:
                    change()
                changed = configuration_stamp(pool)
                self.assertNotEqual(changed, stamp)
                stamp = changed

    @with_transaction()
    def test_validation(self):
        "A prompt Playback() cannot take, or an empty window, is refused"
        self.setup_center()
        for values in [
                {'prompt': 'cc/outage,skip'},
                {'prompt': 'cc/outage)'},
                {'prompt': 'cc outage'},
                {'start': HOUR, 'end': HOUR},
                {'start': HOUR, 'end': -HOUR}]:
            with self.subTest(values=values):
                with self.assertRaises(ValidationError):
                    self.create('bad', **values)
        self.assertTrue(self.create('two', prompt='cc/outage&cc/sorry'))

    @with_transaction()
    def test_in_force(self):
        "The list shows which announcements callers hear now"
        self.setup_center()
        current = self.create('now')
        later = self.create('later', start=HOUR, end=2 * HOUR)
        self.assertEqual((current.in_force, later.in_force), (True, False))

    @with_transaction()
    def test_snapshot_leaves_out_ended_announcements(self):
        "The router loads the running and future announcements only"
        Announcement = Pool().get('cc.announcement')
        self.setup_center()
        self.create('ended', start=-2 * HOUR, end=-HOUR)
        self.create('just-ended', start=-HOUR, end=dt.timedelta(0))
        self.create('running')
        self.create('future', start=HOUR, end=2 * HOUR)
        self.assertEqual(
            sorted(a.name for a in Announcement.routing_snapshot()),
            ['future', 'running'])
