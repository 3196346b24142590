"""Callbacks: requested from ingested calls, dispatched to ready agents
through the console's click-to-dial (against the PBX simulator over TCP),
settled from the callback call's facts."""
import datetime as dt
import sqlite3
import unittest.mock

from psycopg import sql

from trytond import backend
from trytond.cache import Cache
from trytond.model.exceptions import AccessError, ValidationError
from trytond.model.modelsql import SQLConstraintError
from trytond.model.modelview import AccessButtonError
from trytond.modules.cc_base.tests.tools import as_user, create_user
# The module the console calls (this package may be imported under
# another name).
from trytond.modules.cc_telephony import amiaction
from trytond.pool import Pool
from trytond.tests.test_tryton import (
    DB_NAME, TestCase, activate_module, with_transaction)
from trytond.transaction import Transaction

from ..bridge import Database
from ..callback import accepted_offer, utcnow
from ..pbxsim.engine import Callee
from ..tracker import Tracker
from .test_console import SimThread

ALICE, BOB, CAROL = 'PJSIP/1001', 'PJSIP/1002', 'PJSIP/1003'
CALLER = '13800138000'
E164 = '+8613800138000'
T0 = dt.datetime(2026, 3, 2, 2, 0, 0)
WRAPUP = 10


def at(seconds):
    return T0 + dt.timedelta(seconds=seconds)


def offer_fact(uniqueid='in.1', ivr_path='callback/1', **changes):
    "A caller offered a callback who pressed a key (or none) and hung up."
    fact = {
        'uniqueid': uniqueid,
        'linkedid': uniqueid,
        'direction': 'inbound',
        'caller_raw': CALLER,
        'dnis': '95588',
        'queue': None,
        'enter_time': at(0),
        'answer_time': None,
        'end_time': at(9),
        'result': 'no_answer',
        'abandon_position': None,
        'wait_seconds': 0.0,
        'recording': None,
        'ivr_path': ivr_path,
        'legs': [],
        }
    fact.update(changes)
    return fact


def decision(uniqueid='in.1', action='callback', reason='service,busy',
        **changes):
    values = {
        'uniqueid': uniqueid,
        'caller_raw': CALLER,
        'dnis': '95588',
        'routed_at': at(0),
        'action': action,
        'queue': 'sales',
        'reason': reason,
        'explanation': [],
        }
    values.update(changes)
    return values


def outbound_fact(dial_id, answered=True, end=None):
    "The click-to-dial call: the agent's phone (ChannelId) dials CALLER."
    start = utcnow()
    end = end or start + dt.timedelta(seconds=90)
    leg = {
        'agent_interface': 'PJSIP/trunk',
        'ring_start': start + dt.timedelta(seconds=3),
        'answer_time': (start + dt.timedelta(seconds=8)) if answered
        else None,
        'end_time': end,
        'ring_seconds': 5.0 if answered else 30.0,
        'talk_seconds': 80.0 if answered else 0.0,
        'hold_seconds': 0.0,
        'result': 'completed' if answered else 'ring_no_answer',
        'transfer_target': None,
        }
    return {
        'uniqueid': dial_id,
        'linkedid': dial_id,
        'direction': 'outbound',
        'caller_raw': '1001',
        'dnis': CALLER,
        'queue': None,
        'enter_time': start,
        'answer_time': leg['answer_time'],
        'end_time': end,
        'result': 'answered' if answered else 'no_answer',
        'abandon_position': None,
        'wait_seconds': 0.0,
        'recording': None,
        'ivr_path': None,
        'legs': [leg],
        }


class AcceptedOfferTestCase(TestCase):
    "Test which IVR paths accept the callback offer"

    def test_accepted_offer(self):
        for path, accepted in [
                ('callback/1', True),
                ('welcome>2/callback/1', True),
                ('callback/2', False),
                ('callback/t', False),
                ('callback/1/x', False),
                ('choice/1', True),
                ('choice/2', False),
                ('night/1', False),
                ('', False),
                (None, False),
                ]:
            with self.subTest(path=path):
                self.assertEqual(accepted_offer(path), accepted)


class Snapshot:
    """The test database as activated, put back before each test: the
    dispatch commits its attempts, which no rollback undoes (SQLite: the
    backup API; PostgreSQL: a template database)."""

    def __init__(self):
        self.template = f'{DB_NAME}_snapshot'
        if backend.name == 'sqlite':
            self.copy = sqlite3.connect(':memory:')
            self._sqlite_backup(restore=False)
        else:
            self._pg_copy(DB_NAME, self.template)

    def restore(self):
        if backend.name == 'sqlite':
            self._sqlite_backup(restore=True)
        else:
            self._pg_copy(self.template, DB_NAME)
        Cache.drop(DB_NAME)

    def drop(self):
        if backend.name == 'sqlite':
            self.copy.close()
        else:
            self._pg_execute('DROP DATABASE IF EXISTS {} WITH (FORCE)',
                self.template)

    def _sqlite_backup(self, restore):
        database = backend.Database(DB_NAME).connect()
        connection = database.get_connection()
        try:
            if restore:
                self.copy.backup(connection)
            else:
                connection.backup(self.copy)
        finally:
            database.put_connection(connection)

    def _pg_copy(self, source, target):
        backend.Database(DB_NAME).close()
        self._pg_execute('DROP DATABASE IF EXISTS {} WITH (FORCE)', target)
        self._pg_execute('CREATE DATABASE {} TEMPLATE {}', target, source)

    @staticmethod
    def _pg_execute(statement, *names):
        with Transaction().start(
                None, 0, close=True, autocommit=True) as transaction:
            transaction.connection.cursor().execute(sql.SQL(statement).format(
                    *map(sql.Identifier, names)))


class SnapshotSimTestCase(TestCase):
    """Tests that commit: the database as activated is put back before
    each, which gets a fresh PBX simulator (``pbx_sim``)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        activate_module('cc_telephony')
        cls.snapshot = Snapshot()

    @classmethod
    def tearDownClass(cls):
        # Other test classes go on with the database as activated.
        cls.snapshot.restore()
        cls.snapshot.drop()
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        self.snapshot.restore()
        self.pbx_sim = SimThread()
        self.addCleanup(self.pbx_sim.stop)


class CallbackTestCase(SnapshotSimTestCase):
    "Test callbacks: creation, dispatch, settlement"

    def setup_center(self, **queue_values):
        pool = Pool()
        Pbx = pool.get('cc.pbx')
        Queue = pool.get('cc.queue')
        Agent = pool.get('cc.agent')
        Party = pool.get('party.party')
        pbx, = Pbx.create([{'name': "Sim", 'code': 'sim',
                    'ami_host': '127.0.0.1', 'ami_port': self.pbx_sim.port,
                    'ami_username': 'cc', 'ami_secret': 'secret'}])
        sales, other = Queue.create([
                {'name': "Sales", 'code': 'sales', 'pbx': pbx.id,
                    'busy_action': 'callback', **queue_values},
                {'name': "Other", 'code': 'other', 'pbx': pbx.id},
                ])
        now = utcnow()
        agents = Agent.create([
                {'interface': ALICE, 'extension': '1001',
                    'memberships': [('create', [{'queue': sales.id}])]},
                {'interface': BOB, 'extension': '1002',
                    'memberships': [('create', [{'queue': sales.id}])]},
                {'interface': CAROL, 'extension': '1003',
                    'memberships': [('create', [{'queue': other.id}])]},
                ])
        # The bridge writes live states: Bob idles longest, Carol is
        # ready but not in sales.
        Agent.write(agents[0:1], {'state': 'ready',
                'state_since': now - dt.timedelta(minutes=2)})
        Agent.write(agents[1:2], {'state': 'ready',
                'state_since': now - dt.timedelta(minutes=9)})
        Agent.write(agents[2:3], {'state': 'ready',
                'state_since': now - dt.timedelta(minutes=30)})
        party, = Party.create([{'name': "Zhang San",
                    'contact_mechanisms': [('create', [
                                {'type': 'mobile', 'value': CALLER}])]}])
        return sales, agents, party

    def originates(self):
        return self.pbx_sim.actions('Originate')

    def request(self, uniqueid='in.1', **fact):
        Call = Pool().get('cc.call')
        Call.record_decisions([decision(uniqueid)])
        Call.ingest_facts([offer_fact(uniqueid, **fact)])

    # -- creation ---------------------------------------------------------

    @with_transaction()
    def test_accepted_offer_creates_one_callback(self):
        "An accepted offer gives one pending callback, even ingested twice"
        pool = Pool()
        Call = pool.get('cc.call')
        Callback = pool.get('cc.callback')
        sales, _, party = self.setup_center()

        self.request()
        Call.ingest_facts([offer_fact()])
        Call.ingest_facts([offer_fact(), offer_fact()])
        Call.record_decisions([decision()])

        callback, = Callback.search([])
        call, = Call.search([('uniqueid', '=', 'in.1')])
        self.assertEqual(callback.state, 'pending')
        self.assertEqual(callback.number, E164)
        self.assertEqual(callback.region, call.caller_region)
        self.assertTrue(callback.region)
        self.assertEqual(callback.party, party)
        self.assertEqual(callback.queue, sales)
        self.assertEqual(callback.call, call)
        self.assertEqual(callback.origin, 'offer')
        self.assertEqual(callback.requested_at, at(9))
        self.assertEqual(callback.attempts, 0)

    @with_transaction()
    def test_undialable_caller_kept_as_failed(self):
        "A withheld number cannot be called back: kept, failed, not dialled"
        pool = Pool()
        Call = pool.get('cc.call')
        Callback = pool.get('cc.callback')
        self.setup_center()

        Call.record_decisions([decision(caller_raw='anonymous')])
        Call.ingest_facts([offer_fact(caller_raw='anonymous')])
        callback, = Callback.search([])
        self.assertEqual((callback.state, callback.number),
            ('failed', 'anonymous'))
        self.assertIn('cannot be dialled', callback.note)
        self.assertEqual(Callback.dispatch(), [])
        self.assertEqual(self.originates(), [])
        # Retried only once a number that can be dialled is given.
        with self.assertRaisesRegex(ValidationError, 'cannot be dialled'):
            Callback.retry([callback])
        Callback.write([callback], {'number': CALLER})
        Callback.retry([callback])
        self.assertEqual(Callback(callback.id).state, 'pending')

    @with_transaction()
    def test_declined_or_timed_out_offer_creates_none(self):
        "Another key, no key, or no callback offer: no callback"
        pool = Pool()
        Call = pool.get('cc.call')
        Callback = pool.get('cc.callback')
        self.setup_center()

        self.request('in.2', ivr_path='callback/2')
        self.request('in.3', ivr_path='callback/t')
        Call.record_decisions([decision('in.4', action='queue')])
        Call.ingest_facts([offer_fact('in.4')])
        self.assertEqual(Callback.search([]), [])

    @with_transaction()
    def test_callback_chosen_on_a_long_wait(self):
        "TEL-50: 1 in the choices of a long wait books the callback too"
        pool = Pool()
        Call = pool.get('cc.call')
        Callback = pool.get('cc.callback')
        self.setup_center()

        Call.record_decisions([decision('in.8', action='choice')])
        Call.ingest_facts([offer_fact('in.8', ivr_path='choice/1')])
        Call.record_decisions([decision('in.9', action='choice')])
        Call.ingest_facts([offer_fact('in.9', ivr_path='choice/4')])
        callback, = Callback.search([])
        self.assertEqual((callback.call.uniqueid, callback.origin),
            ('in.8', 'offer'))

    @with_transaction()
    def test_decision_stored_after_the_fact(self):
        "The router's decision arriving after the fact still gives one"
        pool = Pool()
        Call = pool.get('cc.call')
        Callback = pool.get('cc.callback')
        self.setup_center()

        Call.ingest_facts([offer_fact()])
        self.assertEqual(Callback.search([]), [])
        Call.record_decisions([decision()])
        Call.record_decisions([decision()])
        self.assertEqual(len(Callback.search([])), 1)

    @with_transaction()
    def test_busy_voicemail_callback(self):
        "A voicemail left when all were busy asks for a callback if wanted"
        pool = Pool()
        Call = pool.get('cc.call')
        Queue = pool.get('cc.queue')
        Callback = pool.get('cc.callback')
        sales, _, _ = self.setup_center()
        voicemail = dict(ivr_path=None, result='voicemail',
            recording='vm/in.5.wav')

        Call.record_decisions([decision('in.5', action='voicemail')])
        Call.ingest_facts([offer_fact('in.5', **voicemail)])
        self.assertEqual(Callback.search([]), [])

        Queue.write([sales], {'callback_voicemail': True})
        Call.record_decisions([decision('in.6', action='voicemail')])
        Call.ingest_facts([offer_fact('in.6', **voicemail)])
        Call.record_decisions([decision('in.7', action='voicemail',
                    reason='service,closed')])
        Call.ingest_facts([offer_fact('in.7', **voicemail)])
        # A message chosen on a long wait (TEL-50) is one left when busy.
        Call.record_decisions([decision('in.8', action='choice')])
        Call.ingest_facts([offer_fact('in.8', **dict(voicemail,
                        ivr_path='choice/2'))])
        callbacks = Callback.search([], order=[('id', 'ASC')])
        self.assertEqual([(c.call.uniqueid, c.origin, c.recording)
                for c in callbacks],
            [('in.6', 'voicemail', 'vm/in.5.wav'),
                ('in.8', 'voicemail', 'vm/in.5.wav')])

    @with_transaction()
    def test_number_validated_and_matched(self):
        "A callback by hand: number normalised, customer matched, checked"
        Callback = Pool().get('cc.callback')
        _, _, party = self.setup_center()

        callback, = Callback.create([{'number': '138 0013 8000'}])
        self.assertEqual((callback.number, callback.party, callback.origin),
            (E164, party, 'manual'))
        with self.assertRaises(ValidationError):
            Callback.create([{'number': 'call me'}])

    # -- dispatch ---------------------------------------------------------

    @with_transaction()
    def test_dispatch_longest_idle_member(self):
        "The longest-idle ready member of the queue calls back"
        pool = Pool()
        Callback = pool.get('cc.callback')
        _, (alice, bob, carol), _ = self.setup_center()
        self.request()

        dialled = Callback.dispatch()

        callback, = dialled
        self.assertEqual(callback.state, 'dialing')
        self.assertEqual(callback.agent, bob)
        self.assertEqual(callback.attempts, 1)
        self.assertTrue(callback.dial_id.startswith(f'cc-dial-{bob.id}-'))
        originate, = self.originates()
        self.assertEqual((originate['Channel'], originate['Exten'],
                originate['ChannelId']), (BOB, CALLER, callback.dial_id))

        # Bob is busy with it: nothing more to do, and never twice.
        self.assertEqual(Callback.dispatch(), [])
        self.assertEqual(len(self.originates()), 1)

    @with_transaction()
    def test_never_two_to_one_agent(self):
        "Three callbacks, two ready members: two dialled, one each"
        pool = Pool()
        Callback = pool.get('cc.callback')
        _, (alice, bob, _), _ = self.setup_center()
        for i in range(3):
            self.request(f'in.{i}')

        dialled = Callback.dispatch()
        self.assertEqual([c.agent for c in dialled], [bob, alice])
        self.assertEqual([c.call.uniqueid for c in dialled],
            ['in.0', 'in.1'])
        self.assertEqual(sorted(a['Channel'] for a in self.originates()),
            [ALICE, BOB])
        self.assertEqual(Callback.dispatch(), [])
        pending, = Callback.search([('state', '=', 'pending')])
        self.assertEqual(pending.call.uniqueid, 'in.2')
        with self.assertRaisesRegex(SQLConstraintError, 'one callback'):
            Callback.write([pending], {'state': 'dialing', 'agent': bob.id})

    @with_transaction()
    def test_nothing_when_no_agent_ready(self):
        "Nobody ready in the queue: the callback waits, nothing is sent"
        pool = Pool()
        Agent = pool.get('cc.agent')
        Callback = pool.get('cc.callback')
        _, (alice, bob, _), _ = self.setup_center()
        Agent.write([alice], {'state': 'talking'})
        Agent.write([bob], {'state': 'not_ready'})
        self.request()

        self.assertEqual(Callback.dispatch(), [])
        self.assertEqual(self.originates(), [])
        callback, = Callback.search([])
        self.assertEqual((callback.state, callback.attempts),
            ('pending', 0))

    # -- settlement -------------------------------------------------------

    @with_transaction()
    def test_answered_callback_is_done(self):
        "The callback call's fact, answered: done"
        pool = Pool()
        Call = pool.get('cc.call')
        Callback = pool.get('cc.callback')
        _, (_, bob, _), party = self.setup_center()
        self.request()
        callback, = Callback.dispatch()

        Call.ingest_facts([outbound_fact(callback.dial_id)])

        callback = Callback(callback.id)
        self.assertEqual(callback.state, 'done')
        self.assertEqual(callback.agent, bob)
        self.assertEqual(callback.callback_call.uniqueid, 'cc-dial-' +
            callback.callback_call.uniqueid.split('cc-dial-')[1])
        self.assertEqual(callback.callback_call.party, party)
        self.assertEqual(callback.callback_call.direction, 'outbound')

    @with_transaction()
    def test_retry_then_failed(self):
        "Not answered: again after the delay, failed after the last try"
        pool = Pool()
        Call = pool.get('cc.call')
        Agent = pool.get('cc.agent')
        Callback = pool.get('cc.callback')
        _, (alice, bob, _), _ = self.setup_center(
            callback_attempts=2, callback_delay=5)
        Agent.write([alice], {'state': 'not_ready'})
        self.request()

        callback, = Callback.dispatch()
        end = (utcnow() + dt.timedelta(minutes=1)).replace(microsecond=0)
        Call.ingest_facts([outbound_fact(callback.dial_id, answered=False,
                    end=end)])
        callback = Callback(callback.id)
        self.assertEqual(callback.state, 'pending')
        self.assertEqual(callback.attempts, 1)
        self.assertEqual(callback.next_attempt,
            end + dt.timedelta(minutes=5))
        self.assertIn('not reached', callback.note)
        # Not due yet.
        self.assertEqual(Callback.dispatch(), [])

        Callback.write([callback], {'next_attempt': utcnow()})
        callback, = Callback.dispatch()
        self.assertEqual(callback.attempts, 2)
        Call.ingest_facts([outbound_fact(callback.dial_id, answered=False)])
        callback = Callback(callback.id)
        self.assertEqual(callback.state, 'failed')
        self.assertEqual(len(self.originates()), 2)

    @with_transaction()
    def test_pbx_unreachable_counts_as_attempt(self):
        "An Originate the PBX does not take is an attempt, retried later"
        pool = Pool()
        Callback = pool.get('cc.callback')
        self.setup_center()
        self.request()
        self.pbx_sim.call(self.pbx_sim.server.stop())

        callback, = Callback.dispatch()
        self.assertEqual((callback.state, callback.attempts),
            ('pending', 1))
        self.assertIn('cannot be reached', callback.note)
        self.assertIsNone(callback.dial_id)

    @with_transaction()
    def test_failed_commit_dials_once(self):
        "The attempt is committed before its Originate: never dialled twice"
        pool = Pool()
        Callback = pool.get('cc.callback')
        _, (_, bob, _), _ = self.setup_center()
        self.request()
        Transaction().commit()

        callback, = Callback.dispatch()
        # What the cron still writes after the Originate fails to commit.
        Transaction().rollback()
        self.assertEqual(Callback.dispatch(), [])

        originate, = self.originates()
        callback = Callback(callback.id)
        self.assertEqual((callback.state, callback.attempts, callback.agent,
                callback.dial_id), ('dialing', 1, bob, originate['ChannelId']))
        self.assertTrue(self.pbx_sim.sim.channels.get(callback.dial_id))

    @with_transaction()
    def test_refused_originate(self):
        "An Originate the PBX refuses: a counted attempt, recorded at once"
        pool = Pool()
        Agent = pool.get('cc.agent')
        Callback = pool.get('cc.callback')
        _, (_, bob, _), _ = self.setup_center(callback_attempts=2)
        # A typo in Bob's interface: Asterisk answers "Invalid channel".
        Agent.write([bob], {'interface': 'PJSIP1002'})
        self.request()
        Transaction().commit()

        callback, = Callback.dispatch()
        Transaction().rollback()
        callback = Callback(callback.id)
        self.assertEqual((callback.state, callback.attempts, callback.dial_id),
            ('pending', 1, None))
        self.assertIn('Invalid channel', callback.note)
        self.assertGreater(callback.next_attempt, utcnow())
        self.assertEqual(Callback.dispatch(), [])
        self.assertEqual(len(self.originates()), 1)
        self.assertEqual(self.pbx_sim.sim.channels, {})

        Callback.write([callback], {'next_attempt': utcnow()})
        Callback.dispatch()
        callback = Callback(callback.id)
        self.assertEqual((callback.state, callback.attempts), ('failed', 2))
        self.assertEqual(len(self.originates()), 2)

    @with_transaction()
    def test_unexpected_dial_error_spares_the_other_attempts(self):
        """An Originate failing unexpectedly: logged, that attempt alone is
        not reached (explained, tried again), the next one is dialled"""
        pool = Pool()
        Pbx = pool.get('cc.pbx')
        Queue = pool.get('cc.queue')
        Agent = pool.get('cc.agent')
        Callback = pool.get('cc.callback')
        _, (alice, bob, _), _ = self.setup_center()
        # A PBX whose AMI action sender fails in a way no UserError covers
        # (a bug, an answer nobody foresaw); the other PBX is pbxsim.
        pbx, = Pbx.create([{'name': "Failing", 'code': 'failing',
                    'ami_host': '127.0.0.1', 'ami_port': 1,
                    'ami_username': 'cc', 'ami_secret': 'secret'}])
        sent_to_failing = []
        real_run = amiaction.run

        def run(host, port, *args, **kwargs):
            if port == pbx.ami_port:
                sent_to_failing.append(args[-1])
                raise AttributeError("'list' object has no attribute 'lower'")
            return real_run(host, port, *args, **kwargs)
        patcher = unittest.mock.patch.object(amiaction, 'run', run)
        patcher.start()
        self.addCleanup(patcher.stop)
        branch, = Queue.create([{'name': "Branch", 'code': 'branch',
                    'pbx': pbx.id, 'callback_delay': 5}])
        # Alice answers only the queue of the failing PBX.
        Agent.write([alice], {'memberships': [
                    ('delete', [m.id for m in alice.memberships]),
                    ('create', [{'queue': branch.id}])]})
        # Requested first, so dialled first.
        failing, = Callback.create([{'number': CALLER, 'queue': branch.id,
                    'requested_at': at(0)}])
        self.request()
        Transaction().commit()

        with self.assertLogs('trytond.modules.cc_telephony.callback',
                'ERROR') as logs:
            dialled = Callback.dispatch()
        Transaction().rollback()

        self.assertEqual([c.agent for c in dialled], [alice, bob])
        failing = Callback(failing.id)
        self.assertEqual((failing.state, failing.attempts, failing.agent),
            ('pending', 1, alice))
        self.assertGreater(failing.next_attempt,
            utcnow() + dt.timedelta(minutes=4))
        self.assertIn('failed (AttributeError', failing.note)
        self.assertIn(failing.dial_id, logs.output[0])
        self.assertIsNotNone(logs.records[0].exc_info)
        ((action, fields),), = sent_to_failing
        self.assertEqual((action, fields['ChannelId']),
            ('Originate', failing.dial_id))
        reached = Callback(dialled[1].id)
        originate, = self.originates()
        self.assertEqual((reached.state, originate['Channel'],
                originate['ChannelId']), ('dialing', BOB, reached.dial_id))
        # Alice is free again; her callback waits for its retry.
        self.assertEqual(Callback.dispatch(), [])

    @with_transaction()
    def test_lost_attempt(self):
        "An attempt whose call is not on the PBX and not recorded is lost"
        pool = Pool()
        Call = pool.get('cc.call')
        Callback = pool.get('cc.callback')
        self.setup_center()
        self.request()
        callback, = Callback.dispatch()
        dial_id = callback.dial_id

        # Still ringing, perhaps: not asked before DIAL_GRACE.
        Callback.settle_dialing()
        self.assertEqual(Callback(callback.id).state, 'dialing')
        self.assertEqual(self.pbx_sim.actions('CoreShowChannels'), [])

        # After it, the PBX still has the call's channel (its Uniqueid is
        # the ChannelId): in progress.
        Callback.write([callback], {
                'last_attempt': utcnow() - dt.timedelta(minutes=3)})
        Callback.settle_dialing()
        self.assertTrue(self.pbx_sim.actions('CoreShowChannels'))
        self.assertEqual(Callback(callback.id).state, 'dialing')

        # The call is over and nothing recorded it: lost.
        self.pbx_sim.advance(120)
        Callback.settle_dialing()
        callback = Callback(callback.id)
        self.assertEqual((callback.state, callback.attempts),
            ('pending', 1))
        self.assertIn('No call was recorded', callback.note)

        # Its call recorded late after all, answered: done.
        Call.ingest_facts([outbound_fact(dial_id)])
        self.assertEqual(Callback(callback.id).state, 'done')

    @with_transaction()
    def test_lost_attempt_pbx_unreachable(self):
        "A PBX that cannot be asked: lost only after STALE_DIALING"
        pool = Pool()
        Callback = pool.get('cc.callback')
        self.setup_center()
        self.request()
        callback, = Callback.dispatch()
        self.pbx_sim.call(self.pbx_sim.server.stop())

        Callback.write([callback], {
                'last_attempt': utcnow() - dt.timedelta(minutes=10)})
        Callback.settle_dialing()
        self.assertEqual(Callback(callback.id).state, 'dialing')
        Callback.write([callback], {
                'last_attempt': utcnow() - dt.timedelta(hours=1)})
        Callback.settle_dialing()
        self.assertEqual(Callback(callback.id).state, 'pending')

    # -- workflow and access ---------------------------------------------

    @with_transaction()
    def test_cancel_retry_supervisors_only(self):
        "Agents read callbacks; supervisors cancel and retry them"
        pool = Pool()
        Callback = pool.get('cc.callback')
        self.setup_center()
        self.request()
        agent_user = create_user('agent_x', 'group_cc_agent')
        boss = create_user('boss_x', 'group_cc_supervisor')
        callback, = Callback.search([])

        with as_user(agent_user):
            self.assertEqual(len(Callback.search([])), 1)
            with self.assertRaises(AccessError):
                Callback.write([Callback(callback.id)], {'issue': "x"})
            with self.assertRaises(AccessButtonError):
                Callback.cancel([Callback(callback.id)])
        with as_user(boss):
            Callback.cancel([Callback(callback.id)])
        self.assertEqual(Callback(callback.id).state, 'cancelled')
        self.assertEqual(Callback.dispatch(), [])
        with as_user(boss):
            Callback.retry([Callback(callback.id)])
        self.assertEqual(Callback(callback.id).state, 'pending')
        self.assertEqual(len(Callback.dispatch()), 1)

    @with_transaction()
    def test_cron_task(self):
        "The dispatch runs as a cron task every minute"
        pool = Pool()
        ModelData = pool.get('ir.model.data')
        Cron = pool.get('ir.cron')
        cron = Cron(ModelData.get_id('cc_telephony',
                'cron_callback_dispatch'))
        self.assertEqual((cron.method, cron.interval_number,
                cron.interval_type), ('cc.callback|dispatch', 1, 'minutes'))

        self.setup_center()
        self.request()
        Cron.run_once([cron])
        originate, = self.originates()
        self.assertEqual((originate['Channel'], originate['Exten']),
            (BOB, CALLER))

    @with_transaction()
    def test_queue_settings_validated(self):
        "A queue's callback attempts must be at least one"
        Queue = Pool().get('cc.queue')
        sales, _, _ = self.setup_center()
        with self.assertRaises(ValidationError):
            Queue.write([sales], {'callback_attempts': 0})
        with self.assertRaises(ValidationError):
            Queue.write([sales], {'callback_delay': -1})

    # -- through the PBX simulator and the bridge ---------------------------

    def follow_pbx(self):
        """A tracker following the simulator's events as the bridge does;
        returns it and the facts it gave."""
        facts = {'call': [], 'interval': []}
        tracker = Tracker(lambda kind, data: facts[kind].append(data),
            wrapup_seconds=lambda interface: WRAPUP)
        self.pbx_sim.sim.listeners.append(tracker.feed)
        return tracker, facts

    def store(self, tracker, facts, pbx_id):
        "What the bridge writes: the facts and live agent states, committed."
        tracker.tick(self.pbx_sim.sim.now)
        live = [{'interface': interface, 'state': agent.state,
                'reason': agent.reason, 'since': agent.start}
            for interface, agent in tracker.agents.items()]
        Database(DB_NAME).store(pbx_id, facts['call'], facts['interval'],
            live)
        facts['call'].clear()
        facts['interval'].clear()

    def callback_through_pbx(self, callee):
        """Alice then Bob sign in; a caller asks for a callback; the cron
        dispatches it; the simulator plays the call (Bob's phone answers
        after 3 s, the customer as ``callee``); the bridge stores it.
        Returns the callback, Bob's live state during the call, and Bob."""
        sim = self.pbx_sim.sim
        sim.now = start = utcnow().replace(microsecond=0)
        sim.callees[CALLER] = callee
        tracker, facts = self.follow_pbx()
        with Transaction().start(DB_NAME, 0) as transaction:
            pool = Pool()
            Agent = pool.get('cc.agent')
            _, (alice, bob, _), _ = self.setup_center(callback_delay=5)
            pbx_id = alice.console_pbx().id
            Agent.sign_in([bob])
            self.pbx_sim.advance(60)
            Agent.sign_in([alice])
            self.request()
            transaction.commit()
        self.pbx_sim.advance(60)
        self.store(tracker, facts, pbx_id)

        with Transaction().start(DB_NAME, 0):
            callback, = Pool().get('cc.callback').dispatch()
        self.pbx_sim.advance(20)
        self.store(tracker, facts, pbx_id)
        with Transaction().start(DB_NAME, 0):
            during = Pool().get('cc.agent')(bob.id).state
        self.pbx_sim.advance(120)
        self.store(tracker, facts, pbx_id)
        return callback.id, during, bob.id, start

    def bob_states(self, start):
        State = Pool().get('cc.agent.state')
        return [(s.state, (s.start - start).total_seconds(),
                (s.end - start).total_seconds()) for s in State.search(
                [('interface', '=', BOB)], order=[('start', 'ASC')])]

    def test_callback_answered_through_pbx(self):
        "A callback dialled through the PBX, answered, stored: done"
        callback_id, during, bob_id, start = self.callback_through_pbx(
            Callee(answer=4, talk=50))

        with Transaction().start(DB_NAME, 0):
            Callback = Pool().get('cc.callback')
            callback = Callback(callback_id)
            self.assertEqual((callback.state, callback.attempts,
                    callback.agent.id), ('done', 1, bob_id))
            call = callback.callback_call
            self.assertEqual((call.uniqueid, call.linkedid, call.direction,
                    call.result, call.talk_seconds), (callback.dial_id,
                    callback.dial_id, 'outbound', 'answered', 50.0))
            # Bob rang 3 s, then talked (the customer rang 4 s, talked
            # 50 s), wrapped up, and was ready again.
            self.assertEqual(during, 'talking')
            self.assertEqual(self.bob_states(start), [
                    ('ready', 0.0, 120.0),
                    ('ringing', 120.0, 123.0),
                    ('talking', 123.0, 177.0),
                    ('wrap_up', 177.0, 177.0 + WRAPUP),
                    ])
            self.assertEqual(Pool().get('cc.agent')(bob_id).state, 'ready')

    def test_callback_not_answered_through_pbx(self):
        "A callback the customer does not answer: tried again later"
        callback_id, during, _, start = self.callback_through_pbx(
            Callee(answer=None))

        with Transaction().start(DB_NAME, 0):
            callback = Pool().get('cc.callback')(callback_id)
            self.assertEqual((callback.state, callback.attempts),
                ('pending', 1))
            self.assertEqual(callback.callback_call.result, 'no_answer')
            self.assertEqual(callback.next_attempt,
                callback.callback_call.end_time + dt.timedelta(minutes=5))
            self.assertIn('not reached', callback.note)
            self.assertEqual(during, 'talking')
            # Bob's phone rang 3 s, then the customer's 30 s (Dial's
            # timeout) while Bob waited on the line.
            self.assertEqual(self.bob_states(start)[1:3], [
                    ('ringing', 120.0, 123.0),
                    ('talking', 123.0, 153.0),
                    ])

