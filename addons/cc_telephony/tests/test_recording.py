"""Call recordings: read from a real folder through the ORM as the web client
and RPC do, with the folder's safety checks, access rights and audit."""
import datetime as dt
import io
import os
import tempfile
import time
import wave
from pathlib import Path

from trytond.exceptions import UserError
from trytond.model.exceptions import AccessError, ValidationError
from trytond.modules.cc_base.tests.tools import as_user, create_user
from trytond.pool import Pool
from trytond.tests.test_tryton import (
    TestCase, activate_module, with_transaction)
from trytond.transaction import Transaction

MONITOR = '/var/spool/asterisk/monitor'
DAY = '2026/11/24'
RANG = dt.datetime(2026, 11, 24, 2, 0)
SIZE_CONTEXT = {'cc.call.recording_audio': 'size'}


def write_wav(path, seconds=0.25, rate=8000):
    "A mono 16-bit WAV of silence, as MixMonitor writes for a call."
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), 'wb') as audio:
        audio.setnchannels(1)
        audio.setsampwidth(2)
        audio.setframerate(rate)
        audio.writeframes(b'\0\0' * int(seconds * rate))
    return path.read_bytes()


def listen(*calls, context=None):
    "What a client reading the call's audio gets, as RPC reads it."
    Call = Pool().get('cc.call')
    with Transaction().set_context(context or {}):
        return Call.read([c.id for c in calls],
            ['recording_audio', 'recording_filename'])


def forged_tokens(url, other_user):
    """Variants of the token of a recording URL that must grant nothing:
    another call, user (other_user) or expiry under the same signature, a
    changed or missing signature, a string that is no token."""
    call, user, expires, signature = url.rsplit('/', 1)[1].split('-', 3)
    return [
        f'{call}1-{user}-{expires}-{signature}',
        f'{call}-{other_user}-{expires}-{signature}',
        f'{call}-{user}-{int(expires) + 86400}-{signature}',
        f'{call}-{user}-{expires}-{signature[::-1]}',
        f'{call}-{user}-{expires}-', f'{call}-{user}-{expires}',
        'nothing',
        ]


class RecordingTestCase(TestCase):
    "Listening to call recordings"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        activate_module('cc_telephony')

    def setUp(self):
        super().setUp()
        spool = tempfile.TemporaryDirectory()
        self.addCleanup(spool.cleanup)
        self.recordings = Path(spool.name, 'monitor')
        self.recordings.mkdir()
        self.outside = Path(spool.name, 'elsewhere')
        self.outside.mkdir()
        self.wav = write_wav(self.recordings / DAY / 'in.1.wav')

    def create_pbx(self, code='ast', **values):
        Pbx = Pool().get('cc.pbx')
        pbx, = Pbx.create([{'name': "Asterisk", 'code': code,
                    'ami_username': 'cc',
                    'recordings_directory': str(self.recordings),
                    **values}])
        return pbx

    def create_call(self, recording=f'{MONITOR}/{DAY}/in.1.wav', **values):
        Call = Pool().get('cc.call')
        call, = Call.create([{'uniqueid': f'in.{Call.search_count([])}',
                    'recording': recording, **values}])
        return call

    def assert_refused(self, call, message):
        with self.assertRaisesRegex(UserError, message):
            listen(call)

    @with_transaction()
    def test_qa_listens_to_the_wav_and_is_audited(self):
        "QA reads the file's bytes through the ORM; the listen is logged"
        pool = Pool()
        AuditLog = pool.get('cc.audit.log')
        Party = pool.get('party.party')
        party, = Party.create([{'name': "王芳"}])
        call = self.create_call(pbx=self.create_pbx(), party=party.id)
        inspector = create_user('inspector', 'group_cc_qa')
        with as_user(inspector):
            row, = listen(call)
        self.assertEqual(row['recording_audio'], self.wav)
        self.assertEqual(row['recording_filename'], 'in.1.wav')
        with wave.open(io.BytesIO(row['recording_audio'])) as audio:
            self.assertEqual(
                (audio.getframerate(), audio.getnframes()), (8000, 2000))
        log, = AuditLog.search([('action', '=', 'listen_recording')])
        self.assertEqual((log.user, log.resource, log.party, log.details),
            (inspector, str(call), party, call.recording))

    @with_transaction()
    def test_size_read_opens_the_form_without_audit(self):
        "The form's size read gives the file size, or nothing, never an error"
        AuditLog = Pool().get('cc.audit.log')
        pbx = self.create_pbx()
        present = self.create_call(pbx=pbx)
        absent = self.create_call(
            recording=f'{MONITOR}/{DAY}/gone.wav', pbx=pbx)
        unrecorded = self.create_call(recording=None, pbx=pbx)
        boss = create_user('boss', 'group_cc_supervisor')
        with as_user(boss):
            rows = listen(present, absent, unrecorded, context=SIZE_CONTEXT)
        self.assertEqual([r['recording_audio'] for r in rows],
            [len(self.wav), None, None])
        self.assertEqual(
            AuditLog.search([('action', '=', 'listen_recording')]), [])

    @with_transaction()
    def test_relative_reference_and_only_pbx(self):
        "A relative reference is read under the folder of the only PBX"
        self.create_pbx()
        call = self.create_call(recording=f'{DAY}/in.1.wav')
        row, = listen(call)
        self.assertEqual(row['recording_audio'], self.wav)

    @with_transaction()
    def test_missing_file_or_folder_is_a_user_error(self):
        "A missing file or an unset folder is said, not a traceback"
        pbx = self.create_pbx()
        self.assert_refused(
            self.create_call(recording=f'{MONITOR}/{DAY}/gone.wav', pbx=pbx),
            'gone.wav.*not in the recordings folder')
        self.assert_refused(
            self.create_call(recording=f'{MONITOR}/{DAY}', pbx=pbx),
            'not a WAV, GSM or MP3')
        pbx.recordings_directory = None
        pbx.save()
        self.assert_refused(self.create_call(pbx=pbx),
            'set the recordings folder on the server of its PBX')

    @with_transaction()
    def test_paths_out_of_the_folder_are_refused(self):
        "No '..', foreign absolute path or symbolic link leads out"
        pbx = self.create_pbx()
        secret = self.outside / 'secret.wav'
        write_wav(secret)
        os.symlink(secret, self.recordings / DAY / 'link.wav')
        os.symlink(self.outside, self.recordings / 'tunnel')
        for reference in [
                f'{MONITOR}/../elsewhere/secret.wav',
                f'{MONITOR}/{DAY}/../../../../../elsewhere/secret.wav',
                '../elsewhere/secret.wav',
                str(secret),
                f'/var/spool/asterisk/voicemail/{DAY}/in.1.wav',
                f'{MONITOR}/{DAY}/link.wav',
                f'{MONITOR}/tunnel/secret.wav',
                ]:
            with self.subTest(reference=reference):
                self.assert_refused(
                    self.create_call(recording=reference, pbx=pbx),
                    'outside the recordings folder')
        # SQLite stores a NUL, PostgreSQL refuses it: not saved here.
        nul = self.create_call(pbx=pbx)
        nul.recording = f'{MONITOR}/{DAY}/in.1.wav\0.wav'
        with self.assertRaisesRegex(UserError, 'outside the recordings'):
            nul.recording_path()

    @with_transaction()
    def test_only_qa_supervisors_and_the_call_agents_listen(self):
        "Agents hear the calls they talked on; others nothing"
        Agent = Pool().get('cc.agent')
        talked, took_over, rang, stranger = (
            create_user(login, 'group_cc_agent')
            for login in ['talked', 'took_over', 'rang', 'stranger'])
        last, first, missed = Agent.create([
                {'interface': 'PJSIP/1001', 'user': talked.id},
                {'interface': 'PJSIP/1002', 'user': took_over.id},
                {'interface': 'PJSIP/1003', 'user': rang.id}])
        call = self.create_call(pbx=self.create_pbx(), agent=last.id,
            legs=[('create', [
                        {'agent': first.id, 'interface': first.interface,
                            'ring_start': RANG, 'answer_time': RANG,
                            'result': 'completed'},
                        {'agent': missed.id, 'interface': missed.interface,
                            'ring_start': RANG,
                            'result': 'ring_no_answer'}])])
        for user in [talked, took_over, create_user('lead', 'group_cc_admin')]:
            with self.subTest(user=user.login), as_user(user):
                row, = listen(call)
                self.assertEqual(row['recording_audio'], self.wav)
        for user in [rang, stranger, create_user('outsider')]:
            with self.subTest(user=user.login), as_user(user):
                with self.assertRaises(AccessError):
                    listen(call)

    @with_transaction()
    def test_pbx_folders_must_be_absolute(self):
        "A relative recordings folder is refused with the field's name"
        with self.assertRaisesRegex(ValidationError, 'Recordings Folder'):
            self.create_pbx(recordings_directory='monitor')
        with self.assertRaisesRegex(ValidationError, 'Recordings Folder'):
            self.create_pbx('ast2', recordings_pbx_directory='spool/monitor')

    @with_transaction()
    def test_recording_url_is_signed_for_the_user_and_audited(self):
        "The URL names the database and carries a token only it accepts"
        pool = Pool()
        AuditLog = pool.get('cc.audit.log')
        Call = pool.get('cc.call')
        call = self.create_call(pbx=self.create_pbx())
        inspector = create_user('inspector', 'group_cc_qa')
        with as_user(inspector):
            url, = Call.recording_url([call])
        database = Transaction().database.name
        prefix = f'/{database}/cc_telephony/recording/'
        self.assertTrue(url.startswith(prefix), url)
        token = url[len(prefix):]
        self.assertEqual(Call.recording_grant(token), (call.id, inspector.id))
        log, = AuditLog.search([('action', '=', 'listen_recording')])
        self.assertEqual((log.user, log.resource), (inspector, str(call)))

    @with_transaction()
    def test_recording_url_lasts_the_recording_through(self):
        "A URL outlives its lifetime by the recording's length"
        Call = Pool().get('cc.call')
        pbx = self.create_pbx()
        answered = dt.datetime(2026, 11, 24, 9, 0, 0)
        long_call = self.create_call(pbx=pbx, answer_time=answered,
            end_time=answered + dt.timedelta(minutes=40))
        unanswered = self.create_call(pbx=pbx, end_time=answered)
        before = time.time()
        urls = Call.recording_url([long_call, unanswered])
        after = time.time()
        expiries = [int(url.rsplit('/', 1)[1].split('-')[2]) for url in urls]
        # At least the whole lifetime (rounded up to a second) from now.
        for expiry, extra in zip(expiries, [2400, 0]):
            with self.subTest(extra=extra):
                self.assertTrue(
                    before + 300 + extra <= expiry <= after + 301 + extra)

    @with_transaction()
    def test_tampered_or_expired_tokens_grant_nothing(self):
        "Changing any part of a token, or its age, voids it"
        Call = Pool().get('cc.call')
        call = self.create_call(pbx=self.create_pbx())
        url, = Call.recording_url([call])
        forged = forged_tokens(url, other_user=Transaction().user + 1)
        for token in forged:
            with self.subTest(token=token):
                self.assertIsNone(Call.recording_grant(token))
        past = int(time.time()) - 1
        expired = Call._recording_token(call.id, 0, past)
        self.assertIsNone(Call.recording_grant(expired))

    @with_transaction()
    def test_no_url_for_strangers_missing_or_escaping_files(self):
        "A URL is issued only for a playable file to a listener"
        pool = Pool()
        AuditLog = pool.get('cc.audit.log')
        Call = pool.get('cc.call')
        pbx = self.create_pbx()
        call = self.create_call(pbx=pbx)
        with as_user(create_user('stranger', 'group_cc_agent')):
            with self.assertRaises(AccessError):
                Call.recording_url([call])
        refused = {
            f'{MONITOR}/../elsewhere/secret.wav': 'outside the recordings',
            f'{MONITOR}/{DAY}/gone.wav': 'not in the recordings folder',
            None: 'has no recording',
            }
        for reference, message in refused.items():
            with self.subTest(reference=reference):
                with self.assertRaisesRegex(UserError, message):
                    Call.recording_url(
                        [self.create_call(recording=reference, pbx=pbx)])
        self.assertEqual(
            AuditLog.search([('action', '=', 'listen_recording')]), [])
