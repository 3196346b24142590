"""Call recordings played back from the web client and over RPC.

Asterisk writes a call's recording into its monitor folder and the bridge
stores the file name it wrote as the call's ``recording`` reference (an
absolute path on the PBX). This server reads the file from its own view of
that folder, a mount set on the call's PBX: each PBX has its own spool.

The web client plays a recording from a short-lived signed URL (see
routes.py): the browser streams and seeks it over HTTP instead of receiving
the whole file in one RPC answer.
"""
import base64
import hashlib
import hmac
import math
import os
import secrets
import time
from pathlib import Path, PurePosixPath

from sql.functions import CurrentTimestamp

import trytond.config as config
from trytond.exceptions import UserError
from trytond.i18n import gettext
from trytond.model import ModelSQL, fields
from trytond.model.exceptions import AccessError, ValidationError
from trytond.pool import Pool, PoolMeta
from trytond.rpc import RPC
from trytond.transaction import Transaction, without_check_access

# Where the dialplan's [cc-record] writes (CC_RECORDINGS of extensions.conf).
ASTERISK_MONITOR = '/var/spool/asterisk/monitor'
# The files MixMonitor writes, by the extension of the name it is given,
# and the media type they are served with.
AUDIO_TYPES = {'.wav': 'audio/wav', '.gsm': 'audio/x-gsm', '.mp3': 'audio/mpeg'}
CONFIG_SECTION = 'cc_telephony'
# Seconds a recording URL stays valid beyond the recording's own length:
# each Range request (a seek) needs it, so that it lasts while the
# recording is listened through, with pauses up to this long.
URL_LIFETIME = 300


class Pbx(metaclass=PoolMeta):
    __name__ = 'cc.pbx'
    recordings_pbx_directory = fields.Char(
        "Recordings Folder on the PBX",
        help="Folder Asterisk writes the recordings into, as the calls' "
        "recording references name it.")
    recordings_directory = fields.Char(
        "Recordings Folder on the Server",
        help="Where this server sees the PBX's recordings folder (a mount, "
        "read-only is enough). Empty: recordings cannot be played here.")

    @classmethod
    def default_recordings_pbx_directory(cls):
        return ASTERISK_MONITOR

    @classmethod
    def validate_fields(cls, pbxs, field_names):
        super().validate_fields(pbxs, field_names)
        names = {'recordings_pbx_directory', 'recordings_directory'}
        if field_names is not None:
            names &= set(field_names)
        for pbx in pbxs:
            for name in sorted(names):
                folder = getattr(pbx, name)
                if folder and not PurePosixPath(folder).is_absolute():
                    raise ValidationError(gettext(
                            'cc_telephony.msg_pbx_recordings_not_absolute',
                            pbx=pbx.rec_name, folder=folder,
                            field=cls._fields[name].string))


class Call(metaclass=PoolMeta):
    __name__ = 'cc.call'
    recording_audio = fields.Function(fields.Binary(
            "Recording Audio", filename='recording_filename',
            help="The call's recording, read from the PBX's recordings "
            "folder when asked for."),
        'get_recording_audio')
    recording_filename = fields.Function(
        fields.Char("Recording File"), 'get_recording_filename')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__rpc__['recording_url'] = RPC(readonly=False, instantiate=0)

    @classmethod
    def recording_url(cls, calls):
        """The URLs (one per call) a browser streams the recordings from,
        valid a few minutes for the user asking. Issuing one is a listen:
        refused and audited as reading the audio is."""
        ids = [c.id for c in calls]
        if Transaction().check_access:
            cls.read(ids, ['recording'])  # access rights and record rules
            cls.check_listener(ids)
        for call in calls:
            if not call.recording:
                raise UserError(gettext('cc_telephony.msg_recording_none',
                        call=call.rec_name))
            call.recording_path()
        cls._audit_listens(ids)
        transaction = Transaction()
        # Rounded up: a URL lives its whole lifetime, not less.
        lifetime = math.ceil(time.time()) + config.getint(
            CONFIG_SECTION, 'recording_url_lifetime', default=URL_LIFETIME)
        return [f'/{transaction.database.name}/cc_telephony/recording/'
            + cls._recording_token(c.id, transaction.user,
                lifetime + c.recorded_seconds)
            for c in calls]

    @property
    def recorded_seconds(self):
        "How long the recording plays: from the answer to the hang-up."
        if self.answer_time and self.end_time:
            return max(0, int(
                    (self.end_time - self.answer_time).total_seconds()))
        return 0

    @classmethod
    def _recording_token(cls, call_id, user_id, expires):
        "``<call>-<user>-<expires>-<signature>``, the signature an HMAC."
        grant = f'{call_id}-{user_id}-{expires}'
        message = f'{Transaction().database.name}:{grant}'.encode()
        signature = hmac.digest(
            _recording_secret(), message, hashlib.sha256)
        return grant + '-' + base64.urlsafe_b64encode(
            signature).decode().rstrip('=')

    @classmethod
    def recording_grant(cls, token):
        """(call id, user id) a token signed here grants until it expires,
        else None."""
        try:
            call_id, user_id, expires = map(int, token.split('-')[:3])
        except ValueError:
            return None
        expected = cls._recording_token(call_id, user_id, expires)
        if hmac.compare_digest(expected.encode(), token.encode()) \
                and time.time() <= expires:
            return call_id, user_id

    def get_recording_filename(self, name):
        if self.recording:
            return PurePosixPath(self.recording).name

    @classmethod
    def get_recording_audio(cls, calls, name):
        """The recording's bytes, or its size when the client asks for
        sizes only (what a form shows before anyone opens the file): a
        size read must not fail, or the form of a call whose file is not
        there would not open."""
        sizes = Transaction().context.get(f'{cls.__name__}.{name}') == 'size'
        audio = {}
        for call in calls:
            if not call.recording:
                audio[call.id] = None
            elif sizes:
                audio[call.id] = call._recording_size()
            else:
                audio[call.id] = call.recording_path().read_bytes()
        return audio

    def _recording_size(self):
        try:
            return self.recording_path().stat().st_size
        except (UserError, OSError):
            return None

    @classmethod
    def read(cls, ids, fields_names):
        """Only QA, supervisors and the call's agents get the audio, and
        every listen is logged."""
        listened = ('recording_audio' in fields_names
            and Transaction().check_access
            and Transaction().context.get(
                f'{cls.__name__}.recording_audio') != 'size')
        if listened:
            Pool().get('ir.model.access').check(cls.__name__, 'read')
            cls.check_listener(ids)
        result = super().read(ids, fields_names)
        if listened:
            cls._audit_listens(
                [r['id'] for r in result if r['recording_audio'] is not None])
        return result

    @classmethod
    def check_listener(cls, ids):
        if cls._listens_to_every_call():
            return
        user = Transaction().user
        with without_check_access():
            for call in cls.browse(ids):
                if user not in call._agent_users():
                    raise AccessError(gettext(
                            'cc_telephony.msg_recording_not_allowed',
                            call=call.rec_name))

    @classmethod
    def _listens_to_every_call(cls):
        "Supervisors (as the console knows them) and QA inspectors."
        pool = Pool()
        if pool.get('cc.agent')._is_supervisor():
            return True
        inspectors = pool.get('ir.model.data').get_id('cc_base', 'group_cc_qa')
        return inspectors in pool.get('res.user').get_groups()

    def _agent_users(self):
        "Ids of the users of the agents who talked on the call."
        agents = [self.agent] + [
            leg.agent for leg in self.legs if leg.answer_time]
        return {a.user.id for a in agents if a and a.user}

    @classmethod
    def _audit_listens(cls, ids):
        AuditLog = Pool().get('cc.audit.log')
        with without_check_access():
            for call in cls.browse(ids):
                AuditLog.record('listen_recording', str(call),
                    party=call.party.id if call.party else None,
                    details=call.recording)

    def recording_path(self):
        """The recording's file on this server; UserError when it cannot
        be read: no folder set, a reference pointing outside the folder
        (``..``, another absolute path, a symbolic link leading out), not
        an audio file Asterisk writes, or no file (yet)."""
        pbx = self._recording_pbx()
        if not pbx or not pbx.recordings_directory:
            raise UserError(gettext(
                    'cc_telephony.msg_recording_no_directory',
                    call=self.rec_name,
                    pbx=pbx.rec_name if pbx else '-'))
        relative = self._recording_relative_path(pbx)
        root = os.path.realpath(pbx.recordings_directory)
        path = os.path.realpath(os.path.join(root, relative))
        if os.path.commonpath([root, path]) != root:
            raise self._outside_error()
        if not os.path.isfile(path):
            raise UserError(gettext('cc_telephony.msg_recording_missing',
                    call=self.rec_name, recording=self.recording))
        return Path(path)

    def _recording_pbx(self):
        "The call's PBX, or the only one when the call names none."
        if self.pbx:
            return self.pbx
        pbxs = Pool().get('cc.pbx').search([], limit=2)
        return pbxs[0] if len(pbxs) == 1 else None

    def _recording_relative_path(self, pbx):
        "The reference as a path under the PBX's recordings folder."
        reference = PurePosixPath(self.recording)
        if reference.is_absolute():
            folder = pbx.recordings_pbx_directory
            if not folder or not reference.is_relative_to(folder):
                raise self._outside_error()
            reference = reference.relative_to(folder)
        if '..' in reference.parts or '\0' in self.recording:
            raise self._outside_error()
        if reference.suffix.lower() not in AUDIO_TYPES:
            raise UserError(gettext('cc_telephony.msg_recording_not_audio',
                    call=self.rec_name, recording=self.recording))
        return str(reference)

    def _outside_error(self):
        return UserError(gettext('cc_telephony.msg_recording_outside',
                call=self.rec_name, recording=self.recording))


def _recording_secret():
    "``[cc_telephony] recording_secret``, else the key made at activation."
    configured = config.get(CONFIG_SECTION, 'recording_secret')
    if configured:
        return configured.encode()
    Key = Pool().get('cc.call.recording.key')
    with without_check_access():
        key, = Key.search([], order=[('id', 'ASC')], limit=1)
    return key.secret.encode()


class RecordingKey(ModelSQL):
    """The secret recording URLs are signed with when the configuration
    names none: made once, so that every server process of the database
    shares it. Nobody reads it over RPC (no access granted)."""
    __name__ = 'cc.call.recording.key'
    __string__ = "Recording URL Key"
    secret = fields.Char("Secret", required=True)

    @classmethod
    def __register__(cls, module_name):
        super().__register__(module_name)
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*table.select(table.id, limit=1))
        if not cursor.fetchone():
            cursor.execute(*table.insert(
                    [table.secret, table.create_uid, table.create_date],
                    [[secrets.token_urlsafe(32), 0, CurrentTimestamp()]]))


class AuditLog(metaclass=PoolMeta):
    __name__ = 'cc.audit.log'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.action.selection.append(('listen_recording', "Recording Listened"))
