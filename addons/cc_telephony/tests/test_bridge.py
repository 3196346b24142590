"The bridge's delivery of facts: ordered, spooled while the database is down."
import asyncio
import datetime as dt
import json
import os
import sqlite3
import tempfile
import unittest

from trytond.modules.cc_telephony.bridge import (
    FactSink, PbxLink, decode, encode, is_transient)

T0 = dt.datetime(2026, 3, 2, 2, 0, 0, 123456)


def fact(n):
    return {'uniqueid': f'1700000000.{n}', 'enter_time': T0,
        'legs': [{'ring_start': T0 + dt.timedelta(seconds=n)}]}


class Store:
    """A database that can be switched off, recording what it stored.

    Facts whose uniqueid is in ``poison`` fail the whole batch they are in
    with a data error, as ingest_facts does with a ValidationError; one
    transaction per call, so a failed batch stores nothing."""

    def __init__(self):
        self.up = True
        self.calls, self.intervals = [], []
        self.batches = 0
        self.attempts = 0
        self.poison = set()
        self.down_error = ConnectionError('database is down')

    def __call__(self, calls, intervals):
        self.attempts += 1
        if not self.up:
            raise self.down_error
        bad = [c['uniqueid'] for c in calls if c['uniqueid'] in self.poison]
        if bad:
            raise ValueError(f'invalid fact {bad[0]}')
        self.batches += 1
        self.calls += calls
        self.intervals += intervals


class FactSinkTestCase(unittest.TestCase):

    def setUp(self):
        self.directory = tempfile.TemporaryDirectory()
        self.addCleanup(self.directory.cleanup)
        self.path = os.path.join(self.directory.name, 'bridge.spool')
        self.store = Store()
        self.sink = FactSink(self.store, self.path)
        self.addCleanup(self.sink.close)

    def test_encode_round_trip(self):
        value = {'a': [fact(1)], 'b': None, 'c': 1.5}
        self.assertEqual(decode(encode(value)), value)
        self.assertEqual(encode(T0), {'$dt': T0.isoformat()})

    def test_direct_delivery(self):
        self.sink.add('call', fact(1))
        self.sink.add('interval', {'key': 'k1'})
        self.assertTrue(self.sink.flush())
        self.assertEqual(self.store.calls, [fact(1)])
        self.assertEqual(self.store.intervals, [{'key': 'k1'}])
        self.assertEqual(self.sink.backlog, 0)

    def test_database_down_spools_then_replays_in_order(self):
        self.sink.add('call', fact(1))
        self.store.up = False
        self.assertFalse(self.sink.flush())
        self.sink.add('call', fact(2))
        self.assertFalse(self.sink.flush())
        self.assertEqual(self.sink.backlog, 2)
        self.assertEqual(self.store.calls, [])

        self.store.up = True
        self.sink.add('call', fact(3))
        self.assertTrue(self.sink.flush())
        self.assertEqual(self.store.calls, [fact(1), fact(2), fact(3)])
        self.assertEqual(self.sink.backlog, 0)
        self.assertTrue(self.sink.flush())
        self.assertEqual(len(self.store.calls), 3)

    def test_spool_survives_a_restart(self):
        self.store.up = False
        self.sink.add('call', fact(1))
        self.sink.flush()
        self.sink.close()

        store = Store()
        sink = FactSink(store, self.path)
        self.addCleanup(sink.close)
        self.assertTrue(sink.flush())
        self.assertEqual(store.calls, [fact(1)])

    def test_failure_during_replay_keeps_the_rest(self):
        for n in range(3):
            self.sink.add('call', fact(n))
        self.store.up = False
        self.sink.flush()
        self.store.up = True
        calls = []

        def flaky(batch_calls, intervals):
            if calls:
                raise ConnectionError('down again')
            calls.extend(batch_calls)
        self.sink.store = flaky
        self.sink.add('call', fact(9))
        self.assertFalse(self.sink.flush())
        self.assertEqual(calls, [fact(0), fact(1), fact(2)])
        # The spool was confirmed up to the delivered batch only.
        self.sink.store = self.store
        self.assertTrue(self.sink.flush())
        self.assertEqual(self.store.calls, [fact(9)])


class OperationalError(Exception):
    "Named like the DB-API error a driver raises when the database is down."


class InterfaceError(Exception):
    pass


class DeadLetterTestCase(unittest.TestCase):

    def setUp(self):
        self.directory = tempfile.TemporaryDirectory()
        self.addCleanup(self.directory.cleanup)
        self.path = os.path.join(self.directory.name, 'bridge-main.spool')
        self.dead_path = os.path.join(self.directory.name, 'bridge-main.dead')
        self.store = Store()
        self.sink = FactSink(self.store, self.path)
        self.addCleanup(self.sink.close)

    def dead_letters(self):
        if not os.path.exists(self.dead_path):
            return []
        with open(self.dead_path, encoding='utf-8') as dead:
            return [json.loads(line) for line in dead]

    def test_poison_fact_is_isolated_and_the_rest_stored_in_order(self):
        self.store.poison = {fact(3)['uniqueid']}
        for n in range(8):
            self.sink.add('call', fact(n))
        self.sink.add('interval', {'key': 'k1'})
        with self.assertLogs('trytond.modules.cc_telephony.bridge',
                'ERROR') as logs:
            self.assertTrue(self.sink.flush())
        self.assertEqual(self.sink.dead_path, self.dead_path)
        self.assertEqual(self.store.calls,
            [fact(n) for n in range(8) if n != 3])
        self.assertEqual(self.store.intervals, [{'key': 'k1'}])
        letter, = self.dead_letters()
        self.assertEqual(letter['kind'], 'call')
        self.assertEqual(decode(letter['data']), fact(3))
        self.assertIn('invalid fact 1700000000.3', letter['error'])
        self.assertIn('1700000000.3', logs.output[0])
        self.assertEqual((self.sink.dead, self.sink.stored), (1, 8))
        self.assertEqual(self.sink.backlog, 0)
        # Newer facts are no longer held up.
        self.sink.add('call', fact(9))
        self.assertTrue(self.sink.flush())
        self.assertEqual(self.store.calls[-1], fact(9))

    def test_several_poison_facts(self):
        self.store.poison = {fact(n)['uniqueid'] for n in (0, 5, 6)}
        for n in range(16):
            self.sink.add('call', fact(n))
        with self.assertLogs('trytond.modules.cc_telephony.bridge', 'ERROR'):
            self.assertTrue(self.sink.flush())
        self.assertEqual([decode(d['data']) for d in self.dead_letters()],
            [fact(0), fact(5), fact(6)])
        self.assertEqual(len(self.store.calls), 13)

    def test_poison_fact_in_the_spool_no_longer_blocks_it(self):
        self.store.up = False
        for n in range(4):
            self.sink.add('call', fact(n))
        self.assertFalse(self.sink.flush())
        self.store.up = True
        self.store.poison = {fact(1)['uniqueid']}
        self.sink.add('call', fact(4))
        with self.assertLogs('trytond.modules.cc_telephony.bridge', 'ERROR'):
            self.assertTrue(self.sink.flush())
        self.assertEqual(self.store.calls,
            [fact(0), fact(2), fact(3), fact(4)])
        self.assertEqual(self.sink.backlog, 0)
        self.assertEqual(len(self.dead_letters()), 1)

    def test_transient_errors_spool_and_never_dead_letter(self):
        for error in [ConnectionRefusedError(111, 'Connection refused'),
                OperationalError('server closed the connection'),
                InterfaceError('connection already closed'),
                sqlite3.OperationalError('database is locked'),
                TimeoutError('lock timeout')]:
            with self.subTest(error=error):
                self.store.up = False
                self.store.down_error = error
                self.sink.add('call', fact(1))
                self.assertFalse(self.sink.flush())
                self.assertEqual(self.sink.backlog, 1)
                self.store.up = True
                self.assertTrue(self.sink.flush())
                self.assertEqual(self.sink.backlog, 0)
        self.assertEqual(self.dead_letters(), [])
        self.assertEqual(self.sink.dead, 0)

    def test_database_lost_while_isolating_keeps_everything(self):
        self.store.poison = {fact(2)['uniqueid']}
        store = self.store

        def failing_then_down(calls, intervals):
            if store.attempts >= 1:
                store.up = False
            store(calls, intervals)
        self.sink.store = failing_then_down
        for n in range(4):
            self.sink.add('call', fact(n))
        self.assertFalse(self.sink.flush())
        self.assertEqual(self.sink.backlog, 4)
        self.assertEqual(self.dead_letters(), [])

        store.up = True
        self.sink.store = store
        with self.assertLogs('trytond.modules.cc_telephony.bridge', 'ERROR'):
            self.assertTrue(self.sink.flush())
        self.assertEqual(store.calls, [fact(0), fact(1), fact(3)])
        self.assertEqual(len(self.dead_letters()), 1)

    def test_dead_letters_are_counted_across_restarts(self):
        self.store.poison = {fact(1)['uniqueid']}
        self.sink.add('call', fact(1))
        with self.assertLogs('trytond.modules.cc_telephony.bridge', 'ERROR'):
            self.sink.flush()
        self.sink.close()
        sink = FactSink(Store(), self.path)
        self.addCleanup(sink.close)
        self.assertEqual(sink.dead, 1)

    def test_is_transient(self):
        from trytond.model.exceptions import ValidationError
        self.assertFalse(is_transient(ValidationError('bad value')))
        self.assertFalse(is_transient(KeyError('uniqueid')))
        self.assertFalse(is_transient(sqlite3.IntegrityError('UNIQUE')))
        self.assertTrue(is_transient(sqlite3.OperationalError('locked')))
        self.assertTrue(is_transient(ConnectionRefusedError()))


class StatusDatabase:
    def __init__(self):
        self.reports = []

    def report_status(self, pbx_id, status, last_event, message=None,
            dead_letters=None):
        self.reports.append((status, dead_letters))


class DeadLetterStatusTestCase(unittest.TestCase):

    def test_dead_letters_reach_the_pbx_status(self):
        import concurrent.futures
        directory = tempfile.TemporaryDirectory()
        self.addCleanup(directory.cleanup)
        database = StatusDatabase()
        executor = concurrent.futures.ThreadPoolExecutor(1)
        self.addCleanup(executor.shutdown)
        link = PbxLink({'database': 'cc', 'id': 1, 'code': 'main',
                'host': '127.0.0.1',
                'port': 5038, 'username': 'u', 'secret': 's',
                'inbound_contexts': None}, database, executor,
            directory.name)
        self.addCleanup(link.sink.close)

        asyncio.run(link._report(True))
        link.sink.dead = 2
        asyncio.run(link._report(True))
        asyncio.run(link._report(True))
        dead_path = os.path.join(directory.name, 'bridge-main@cc.dead')
        self.assertEqual(database.reports, [
                ('disconnected', (0, dead_path)),
                ('disconnected', (2, dead_path))])


class LiveStateTestCase(unittest.TestCase):
    "What the bridge tells the database of its agents' live states"

    def test_handed_over_call_is_told_once(self):
        """A transfer's call goes with the next state change only: told
        again later, it would take the agent's wrap-up back from a call
        they took after it."""
        directory = tempfile.TemporaryDirectory()
        self.addCleanup(directory.cleanup)
        link = PbxLink({'database': 'cc', 'id': 1, 'code': 'main',
                'host': '127.0.0.1', 'port': 5038, 'username': 'u',
                'secret': 's', 'inbound_contexts': None}, None, None,
            directory.name)
        self.addCleanup(link.sink.close)
        agent = link.tracker._agent('PJSIP/1001')

        def told():
            return [change.get('transferred_call', 'not told')
                for change in link._live_changes()]
        self.assertEqual(told(), [None])
        agent.state, agent.transferred_call = 'wrap_up', 'call-1'
        self.assertEqual(told(), ['call-1'])
        agent.state = 'ready'
        self.assertEqual(told(), ['not told'])
        self.assertEqual(told(), [])
        agent.transferred_call = 'call-2'
        self.assertEqual(told(), ['call-2'])
