"""The router's decision spool belongs to one incarnation of one database,
as the bridge's files do (test_bridge_files.py).

A database dropped and created again under the same name shows the router
another cc.pbx record (another creation time): decisions spooled for the
old one are set aside, never replayed into the new one; those of the
right incarnation are replayed."""
import glob
import json
import os
import queue
import tempfile

from trytond.modules.cc_telephony.router import Router
from trytond.pool import Pool
from trytond.tests.test_tryton import DB_NAME, TestCase, activate_module
from trytond.transaction import Transaction

from .test_router import Outage, routing_decision

LOGGER = 'trytond.modules.cc_telephony'


class Unreadable:
    """The router's real ``incarnation``, behind a switch: while ``down``
    it fails as the database does when it cannot be reached."""

    def __init__(self, read):
        self.read = read
        self.down = False

    def __call__(self):
        import sqlite3
        if self.down:
            raise sqlite3.OperationalError('unable to open database file')
        return self.read()


class RouterFilesTestCase(TestCase):
    "The router's spool and dead letters across database incarnations"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        activate_module('cc_telephony')

    def setUp(self):
        super().setUp()
        self.spool_dir = self.enterContext(tempfile.TemporaryDirectory())
        self.addCleanup(self.delete_calls_and_pbx)
        self.create_pbx()

    def create_pbx(self):
        "The PBX as a newly created database has it."
        with Transaction().start(DB_NAME, 0) as transaction:
            Pbx = Pool().get('cc.pbx')
            Pbx.delete(Pbx.search([('code', '=', 'main')]))
            Pbx.create([{'name': "Main", 'code': 'main',
                        'ami_username': 'cc'}])
            transaction.commit()

    def delete_calls_and_pbx(self):
        with Transaction().start(DB_NAME, 0) as transaction:
            pool = Pool()
            call = pool.get('cc.call').__table__()
            transaction.connection.cursor().execute(*call.delete(
                    where=call.uniqueid.like('w.%')))
            Pbx = pool.get('cc.pbx')
            Pbx.delete(Pbx.search([('code', '=', 'main')]))
            transaction.commit()

    def start_router(self, database_down=False):
        """A router process starting: its writer's database can be
        switched off (writes and reads)."""
        router = Router(DB_NAME, pbx_code='main', cache_seconds=60)
        router.spool_dir = self.spool_dir
        router.write = Outage(router.write)
        router.incarnation = Unreadable(router.incarnation)
        router.write.down = router.incarnation.down = database_down
        return router

    def run_writer(self, router, *numbers, until=None):
        """Hand the writer the decisions ``numbers`` then stop it; with
        ``until``, the database comes back once the spool holds that many
        decisions, before the stop."""
        import threading
        import time
        decisions = queue.Queue()
        for number in numbers:
            decisions.put(routing_decision(number))

        def database_back():
            deadline = time.monotonic() + 30
            while (len(self.lines(self.spool_path(router))) < until
                    and time.monotonic() < deadline):
                time.sleep(0.01)
            router.write.down = router.incarnation.down = False
            while (not router.write.stored and time.monotonic() < deadline):
                time.sleep(0.01)
            decisions.put(None)
        if until is None:
            decisions.put(None)
            router._write_loop(decisions)
            return
        thread = threading.Thread(target=database_back)
        thread.start()
        try:
            router._write_loop(decisions)
        finally:
            thread.join()

    def spool_path(self, router):
        return router.writer_files()[0]

    def stored(self):
        with Transaction().start(DB_NAME, 0, readonly=True):
            Call = Pool().get('cc.call')
            return [c.uniqueid for c in Call.search(
                    [('uniqueid', 'like', 'w.%')], order=[('id', 'ASC')])]

    @staticmethod
    def lines(path):
        "The uniqueids of a spool file, in order."
        if not os.path.exists(path):
            return []
        with open(path, encoding='utf-8') as file:
            return [json.loads(line)['data']['uniqueid'] for line in file]

    def orphans(self):
        return sorted(glob.glob(
                os.path.join(self.spool_dir, 'router-*.spool.*.orphan')))

    def spool_while_down(self, *numbers, incarnation_known=True):
        """The database cannot be written: the decisions wait in the spool,
        written for the incarnation the writer read at its start, or, when
        the database was down from its start, for none."""
        router = self.start_router()
        router.write.down = True
        router.incarnation.down = not incarnation_known
        self.run_writer(router, *numbers)
        self.assertEqual(self.lines(self.spool_path(router))[-len(numbers):],
            [f'w.{n}' for n in numbers])
        return router

    def test_spool_of_a_recreated_database_is_set_aside(self):
        "Decisions spooled for the dropped database never reach the new one"
        old = self.start_router()
        old_identity = old.incarnation()
        self.run_writer(old, 1)
        self.spool_while_down(2, 3)
        self.create_pbx()
        new = self.start_router()
        self.assertNotEqual(new.incarnation(), old_identity)

        with self.assertLogs(LOGGER, 'WARNING') as logs:
            self.run_writer(new, 4)
        self.assertEqual(self.stored(), ['w.1', 'w.4'])
        self.assertTrue(any('(2 routing decisions not replayed)' in line
                for line in logs.output), logs.output)
        # Set aside, not lost.
        aside, = self.orphans()
        self.assertEqual(self.lines(aside), ['w.2', 'w.3'])
        self.assertEqual(self.lines(self.spool_path(new)), [])

        # The right incarnation's spool is replayed at the next start.
        self.spool_while_down(5)
        self.run_writer(self.start_router(), 6)
        self.assertEqual(self.stored(), ['w.1', 'w.4', 'w.5', 'w.6'])
        self.assertEqual(self.orphans(), [aside])

    def test_decisions_spooled_for_no_incarnation_go_to_the_next(self):
        """Decisions spooled by a writer that never could read the
        incarnation are stored by the next writer that can; those spooled
        for the old incarnation before them are set aside"""
        self.spool_while_down(1)
        self.create_pbx()
        router = self.spool_while_down(2, incarnation_known=False)
        self.assertEqual(self.lines(self.spool_path(router)), ['w.1', 'w.2'])
        with self.assertLogs(LOGGER, 'WARNING') as logs:
            self.run_writer(self.start_router(), 3)
        self.assertEqual(self.stored(), ['w.2', 'w.3'])
        aside, = self.orphans()
        self.assertEqual(self.lines(aside), ['w.1'])
        self.assertTrue(any('(1 routing decisions not replayed)' in line
                for line in logs.output), logs.output)
        self.assertEqual(
            glob.glob(os.path.join(self.spool_dir, '*.unclaimed')), [])

    def test_decisions_spooled_before_the_incarnation_is_known_stay(self):
        """Started while the database is down, the writer spools behind
        the old spool; once the database tells its incarnation, only what
        the old spool held is set aside"""
        self.spool_while_down(1, 2)
        self.create_pbx()
        router = self.start_router(database_down=True)
        with self.assertLogs(LOGGER, 'WARNING') as logs:
            self.run_writer(router, 3, 4, until=4)
        self.assertEqual(self.stored(), ['w.3', 'w.4'])
        aside, = self.orphans()
        self.assertEqual(self.lines(aside), ['w.1', 'w.2'])
        self.assertEqual(self.lines(self.spool_path(router)), [])
        self.assertTrue(any('incarnation cannot be read' in line
                for line in logs.output), logs.output)

    def test_dead_letters_of_a_recreated_database_are_set_aside(self):
        "The count of refused decisions is the incarnation's own"
        old = self.start_router()
        decisions = queue.Queue()
        decisions.put(routing_decision(1, action='nonsense'))
        decisions.put(None)
        with self.assertLogs(LOGGER, 'WARNING'):
            old._write_loop(decisions)
        dead_path = old.writer_files()[1]
        self.assertTrue(os.path.exists(dead_path))
        self.create_pbx()
        new = self.start_router()
        with self.assertLogs(LOGGER, 'WARNING') as logs:
            self.run_writer(new, 2)
        self.assertFalse(os.path.exists(dead_path))
        self.assertEqual(len(glob.glob(dead_path + '.*.orphan')), 1)
        self.assertFalse(any('refused' in line for line in logs.output),
            logs.output)
        self.assertEqual(self.stored(), ['w.2'])
