"The bridge's delivery of facts: ordered, spooled while the database is down."
import datetime as dt
import os
import tempfile
import unittest

from trytond.modules.cc_telephony.bridge import FactSink, decode, encode

T0 = dt.datetime(2026, 3, 2, 2, 0, 0, 123456)


def fact(n):
    return {'uniqueid': f'1700000000.{n}', 'enter_time': T0,
        'legs': [{'ring_start': T0 + dt.timedelta(seconds=n)}]}


class Store:
    "A database that can be switched off, recording what it stored."

    def __init__(self):
        self.up = True
        self.calls, self.intervals = [], []
        self.batches = 0

    def __call__(self, calls, intervals):
        if not self.up:
            raise ConnectionError('database is down')
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
