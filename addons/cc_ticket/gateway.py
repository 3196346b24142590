"""Notification gateways: web client, email (SMTP) and SMS.

Escalations go to users through every channel they can be reached on:
a ``res.notification`` (the bell in sao, pushed live on the bus where the
database has channels), an email through ``trytond.sendmail`` (the
``[email] uri`` of the server) and an SMS through the gateway named in the
``[cc_sms] gateway`` option: ``log`` (default, writes to the log) or
``aliyun`` (Alibaba Cloud SMS, ``SendSms`` API).
"""
import base64
import datetime as dt
import hashlib
import hmac
import json
import logging
import uuid
from email.message import EmailMessage
from urllib.parse import quote
from urllib.request import urlopen

from trytond.bus import notify as bus_notify
from trytond import config
from trytond.i18n import gettext
from trytond.sendmail import send_message_transactional
from trytond.transaction import Transaction

logger = logging.getLogger(__name__)
SECTION = 'cc_sms'
# Above this many messages for one user in one SLA pass, the user gets one
# digest instead (see Notifier.notify_many).
DIGEST_ABOVE = 20


class SMSError(Exception):
    pass


class SMSGateway:
    "Interface: send a text to an E.164 number."
    name = None

    def send(self, number, text):
        raise NotImplementedError


class LoggingSMSGateway(SMSGateway):
    """Writes messages to the log instead of sending them (development,
    tests, and sites without an SMS contract)."""
    name = 'log'

    def __init__(self):
        self.sent = []

    def send(self, number, text):
        logger.info("SMS to %s: %s", number, text)
        self.sent.append((number, text))


def _percent(value):
    "RFC 3986 encoding required by Alibaba Cloud's signature."
    return quote(str(value), safe='~')


class AliyunSMSGateway(SMSGateway):
    """Alibaba Cloud SMS (dysmsapi ``SendSms``, RPC signature version 1.0).

    Alibaba Cloud sends only approved templates, so the text goes in the
    template parameter ``content``: the template must be ``${content}``.
    Options of the ``[cc_sms]`` section: ``access_key_id``,
    ``access_key_secret``, ``sign_name``, ``template_code``, ``endpoint``
    (default ``https://dysmsapi.aliyuncs.com``) and ``timeout``.
    """
    name = 'aliyun'

    def __init__(self, access_key_id, access_key_secret, sign_name,
            template_code, endpoint='https://dysmsapi.aliyuncs.com',
            timeout=10):
        self.access_key_id = access_key_id
        self.access_key_secret = access_key_secret
        self.sign_name = sign_name
        self.template_code = template_code
        self.endpoint = endpoint.rstrip('/')
        self.timeout = timeout

    def parameters(self, number, text, nonce=None, now=None):
        now = now or dt.datetime.now(dt.timezone.utc)
        return {
            'AccessKeyId': self.access_key_id,
            'Action': 'SendSms',
            'Format': 'JSON',
            # Mainland numbers go without +86; international keep the code.
            'PhoneNumbers': number[3:] if number.startswith('+86') else (
                number.lstrip('+')),
            'RegionId': 'cn-hangzhou',
            'SignName': self.sign_name,
            'SignatureMethod': 'HMAC-SHA1',
            'SignatureNonce': nonce or uuid.uuid4().hex,
            'SignatureVersion': '1.0',
            'TemplateCode': self.template_code,
            'TemplateParam': json.dumps(
                {'content': text}, ensure_ascii=False),
            'Timestamp': now.strftime('%Y-%m-%dT%H:%M:%SZ'),
            'Version': '2017-05-25',
            }

    def sign(self, parameters, method='GET'):
        canonical = '&'.join(
            f'{_percent(k)}={_percent(v)}'
            for k, v in sorted(parameters.items()))
        to_sign = f'{method}&{_percent("/")}&{_percent(canonical)}'
        digest = hmac.new(
            (self.access_key_secret + '&').encode(), to_sign.encode(),
            hashlib.sha1).digest()
        return base64.b64encode(digest).decode(), canonical

    def url(self, number, text, **kwargs):
        signature, canonical = self.sign(self.parameters(number, text, **kwargs))
        return f'{self.endpoint}/?Signature={_percent(signature)}&{canonical}'

    def send(self, number, text):
        with urlopen(self.url(number, text), timeout=self.timeout) as response:
            result = json.load(response)
        if result.get('Code') != 'OK':
            raise SMSError(f"{result.get('Code')}: {result.get('Message')}")
        return result.get('BizId')


def get_sms_gateway():
    "The gateway configured in the ``[cc_sms]`` section."
    name = config.get(SECTION, 'gateway', default='log')
    if name == 'aliyun':
        return AliyunSMSGateway(
            config.get(SECTION, 'access_key_id'),
            config.get(SECTION, 'access_key_secret'),
            config.get(SECTION, 'sign_name'),
            config.get(SECTION, 'template_code'),
            endpoint=config.get(
                SECTION, 'endpoint', default='https://dysmsapi.aliyuncs.com'),
            timeout=config.getint(SECTION, 'timeout', default=10))
    if name != 'log':
        raise ValueError(f"unknown SMS gateway {name!r}")
    return _LOG_GATEWAY


_LOG_GATEWAY = LoggingSMSGateway()


class Notifier:
    "Reach users on the web client, by email and by SMS."

    @classmethod
    def notify(cls, users, records, text, urgent=False):
        """Notify each user about the records; email and SMS only when
        ``urgent`` (a breach), so warnings do not flood phones."""
        if not users or not records:
            return
        Model = records[0].__class__
        for user in users:
            Model.notify_user(
                records, 'tryton-notification', text[:255], user=user.id)
            # Live toast; silently dropped where the database has no channels
            # (SQLite), the res.notification above remains.
            bus_notify(text, priority=3 if urgent else 1, user=user.id)
            if urgent:
                cls.email(user, text, records)
                cls.sms(user, text)

    @classmethod
    def notify_many(cls, Model, messages):
        """Notify the ``(users, record id, text, urgent)`` messages of one
        SLA pass about records of ``Model``.

        Up to :data:`DIGEST_ABOVE` messages, a user gets them as
        :meth:`notify` sends them: a ``res.notification`` per record, an
        email and an SMS for urgent ones. Above, one digest of each kind
        lists them all: hundreds of entries, emails or texts in one minute
        help nobody, and building them took most of a large pass. Live
        toasts are always one per user and pass (each is a bus message, a
        NOTIFY on PostgreSQL)."""
        users, by_user = {}, {}
        for recipients, record_id, text, urgent in messages:
            for user in recipients:
                users[user.id] = user
                by_user.setdefault(user.id, []).append(
                    (record_id, text, urgent))
        for user_id, items in by_user.items():
            user = users[user_id]
            texts = [t for _, t, _ in items]
            urgent = [t for _, t, u in items if u]
            if len(items) <= DIGEST_ABOVE:
                for record_id, text, is_urgent in items:
                    records = Model.browse([record_id])
                    Model.notify_user(
                        records, 'tryton-notification', text[:255],
                        user=user_id)
                    if is_urgent:
                        cls.email(user, text, records, body=text)
                        cls.sms(user, text)
            else:
                summary = gettext(
                    'cc_ticket.msg_sla_escalations', count=len(items))
                ids = list({i: None for i, _, _ in items})
                # Browse lists of a few hundred: trytond checks each
                # record's list when it builds it (quadratic in its length).
                records = [r for sub in range(0, len(ids), 200)
                    for r in Model.browse(ids[sub:sub + 200])]
                # A one-line field: the first messages, the rest are the
                # records the notification opens.
                Model.notify_user(
                    records, 'tryton-notification', summary[:255],
                    description=' '.join(texts[:10])[:1000], user=user_id)
                if urgent:
                    cls.email(user, summary, records,
                        body='\n'.join(urgent))
                    cls.sms(user, summary)
            if len(items) == 1:
                title, body = texts[0], None
            else:
                title = gettext(
                    'cc_ticket.msg_sla_escalations', count=len(items))
                body = '\n'.join(texts[:5])
            bus_notify(title, body, priority=3 if urgent else 1, user=user_id)

    @classmethod
    def email(cls, user, text, records, body=None):
        """Email ``text`` to the user; the body lists the records unless
        ``body`` is given."""
        if not user.email:
            return
        msg = EmailMessage()
        msg['Subject'] = text
        msg['From'] = config.get('email', 'from')
        msg['To'] = user.email
        if body is None:
            body = '\n'.join([text, ''] + [r.rec_name for r in records])
        msg.set_content(body)
        # Sent at commit: a rolled back evaluation sends nothing.
        send_message_transactional(msg, strict=False)

    @classmethod
    def sms(cls, user, text):
        number = getattr(user, 'cc_mobile', None)
        if not number:
            return
        # Like email: sent only once the transaction is committed.
        manager = Transaction().join(SMSDataManager())
        manager.put(number, text)


class SMSDataManager:
    "Queues SMS and sends them when the transaction commits."

    def __init__(self):
        self.queue = []

    def __eq__(self, other):
        if not isinstance(other, SMSDataManager):
            return NotImplemented
        return True

    def put(self, number, text):
        self.queue.append((number, text))

    def abort(self, trans):
        self.queue = []

    def tpc_begin(self, trans):
        pass

    def commit(self, trans):
        pass

    def tpc_vote(self, trans):
        pass

    def tpc_finish(self, trans):
        gateway = get_sms_gateway()
        for number, text in self.queue:
            try:
                gateway.send(number, text)
            except Exception:
                # A failing provider must not break the SLA pass.
                logger.exception("SMS to %s failed", number)
        self.queue = []

    def tpc_abort(self, trans):
        self.queue = []
