"""IVR: voice menus the router plays over FastAGI before routing a call.

``cc.ivr.menu`` and ``cc.ivr.option`` are the configuration; ivr_engine.py
walks them; :func:`handle_ivr` is the FastAGI conversation the router runs
for ``AGI(agi://host:port/ivr)`` and ``…/ivr/<menu code>`` (router.handle
dispatches on the script name). The conversation ends in the router's normal
decision (routing.decide, so blacklist, VIP, skills and affinity still
apply) for the queue the menu chose, or for the dialled number when the
caller asked for an agent; its channel variables go to the dialplan with
``CC_IVR_PATH`` and ``CC_LANGUAGE``, and the decision is stored on the call
as the router stores its own, with the IVR's steps first.

Self-service actions are a hook: a module adds one by extending
``cc.ivr.option`` (``ivr_services`` returns the actions it offers,
``ivr_service_<name>(request)`` answers one); cc_telephony itself offers
``account_number`` (the caller keys an account number, which travels with
the call to the agent).
"""
import asyncio
import dataclasses
import logging

from trytond.i18n import gettext
from trytond.model import (
    DeactivableMixin, ModelSQL, ModelView, Unique, fields)
from trytond.model.exceptions import ValidationError
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.transaction import Transaction

from . import ivr_engine, routing
from .fastagi import AGIHangup

logger = logging.getLogger(__name__)

ACTIONS = [
    ('submenu', "Submenu"),
    ('queue', "Queue"),
    ('agent', "To an Agent"),
    ('back', "Back One Level"),
    ('main', "Main Menu"),
    ('language', "Language"),
    ('self_service', "Self-Service"),
    ('hangup', "Hang Up"),
    ]
KEYS = [(key, key) for key in ivr_engine.KEYS]
# The script names of AGI requests the IVR answers: ivr, ivr/<menu code>.
SCRIPT = 'ivr'


class IvrMenu(DeactivableMixin, ModelSQL, ModelView):
    "IVR Menu"
    __name__ = 'cc.ivr.menu'
    __string__ = "IVR Menu"
    code = fields.Char(
        "Code", required=True,
        help="Name of the menu in the dialplan: AGI(agi://router/ivr/<code>), "
        "and the IVR target of night service and blacklist routing.")
    name = fields.Char("Name", required=True, translate=True)
    greeting = fields.Char(
        "Greeting",
        help="Asterisk sound file played when the caller enters the menu "
        "(it lists the options); keys interrupt it. Empty: the menu only "
        "waits for a key.")
    language = fields.Char(
        "Language",
        help="Asterisk language code (zh, en) the channel takes when the "
        "caller enters this menu; empty: unchanged.")
    timeout = fields.Integer(
        "Timeout", required=True,
        help="Seconds the menu waits for a key after its greeting.")
    retries = fields.Integer(
        "Retries", required=True,
        help="Invalid or missing keys tolerated before the caller is put "
        "through to an agent.")
    invalid_prompt = fields.Char(
        "Invalid-Input Prompt",
        help="Sound file played after a key that is not an option.")
    parent = fields.Many2One(
        'cc.ivr.menu', "Parent Menu", ondelete='SET NULL',
        domain=[('id', '!=', Eval('id', -1))],
        help="Where \"back one level\" leads from this menu; the menu at "
        "the top is the main menu.")
    children = fields.One2Many('cc.ivr.menu', 'parent', "Submenus",
        readonly=True)
    options = fields.One2Many('cc.ivr.option', 'menu', "Options")
    intro_service = fields.Selection(
        'get_intro_services', "Opening Self-Service",
        help="Run when a caller first enters the menu, before its greeting: "
        "what the caller's history makes likely (e.g. the state of their "
        "open ticket) is said first; a key interrupts it. Only actions "
        "that need no keys.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('code_unique', Unique(t, t.code),
                'cc_telephony.msg_ivr_menu_code_unique'),
            ]
        cls._order.insert(0, ('code', 'ASC'))

    @classmethod
    def default_timeout(cls):
        return 5

    @classmethod
    def default_retries(cls):
        return 2

    def get_rec_name(self, name):
        return f'{self.code} {self.name}'

    @classmethod
    def search_rec_name(cls, name, clause):
        _, operator, operand, *extra = clause
        bool_op = 'AND' if (operator.startswith('!')
            or operator.startswith('not ')) else 'OR'
        return [bool_op,
            ('code', operator, operand, *extra),
            ('name', operator, operand, *extra),
            ]

    @classmethod
    def get_intro_services(cls):
        Option = Pool().get('cc.ivr.option')
        return [(None, '')] + sorted(
            (name, service.label or name)
            for name, service in Option.ivr_services().items()
            if not service.digits)

    @classmethod
    def validate_fields(cls, menus, field_names):
        super().validate_fields(menus, field_names)
        cls.check_intro_service(menus, field_names)
        for menu in menus:
            if (menu.timeout or 0) <= 0:
                raise ValidationError(gettext(
                        'cc_telephony.msg_ivr_menu_timeout',
                        menu=menu.rec_name))
            if (menu.retries or 0) < 0:
                raise ValidationError(gettext(
                        'cc_telephony.msg_ivr_menu_retries',
                        menu=menu.rec_name))
            if menu.code and not menu.code.replace('_', '').replace(
                    '-', '').isalnum():
                raise ValidationError(gettext(
                        'cc_telephony.msg_ivr_menu_code',
                        code=menu.code))
        if not field_names or 'parent' in field_names:
            cls.check_parent_cycle(menus)

    @classmethod
    def check_intro_service(cls, menus, field_names=None):
        if field_names and 'intro_service' not in field_names:
            return
        services = Pool().get('cc.ivr.option').ivr_services()
        for menu in menus:
            service = services.get(menu.intro_service or '')
            if menu.intro_service and (service is None or service.digits):
                raise ValidationError(gettext(
                        'cc_telephony.msg_ivr_menu_intro',
                        menu=menu.rec_name, service=menu.intro_service))

    @classmethod
    def check_parent_cycle(cls, menus):
        "No menu may be its own ancestor: \"back\" would never reach a top."
        for menu in menus:
            seen, current = {menu.id}, menu.parent
            while current is not None:
                if current.id in seen:
                    raise ValidationError(gettext(
                            'cc_telephony.msg_ivr_menu_cycle',
                            menu=menu.rec_name))
                seen.add(current.id)
                current = current.parent

    @classmethod
    def ivr_snapshot(cls):
        "ivr_engine.Menus of the active menus and the self-service actions."
        Option = Pool().get('cc.ivr.option')
        menus = []
        for menu in cls.search([]):
            options = {}
            for option in menu.options:
                options[option.key] = option.engine_option()
            menus.append(ivr_engine.Menu(menu.code, name=menu.name,
                    greeting=menu.greeting or '',
                    parent=menu.parent.code if menu.parent else None,
                    language=menu.language or None,
                    timeout=float(menu.timeout or 5),
                    retries=menu.retries or 0,
                    invalid_prompt=menu.invalid_prompt or None,
                    options=options,
                    intro=menu.intro_service or None))
        return ivr_engine.Menus(menus, Option.ivr_services())


class IvrOption(ModelSQL, ModelView):
    "IVR Option"
    __name__ = 'cc.ivr.option'
    __string__ = "IVR Option"
    menu = fields.Many2One(
        'cc.ivr.menu', "Menu", required=True, ondelete='CASCADE')
    key = fields.Selection(KEYS, "Key", required=True, sort=False,
        translate=False)
    label = fields.Char("Label", translate=True,
        help="What the greeting says for this key.")
    action = fields.Selection(ACTIONS, "Action", required=True)
    submenu = fields.Many2One(
        'cc.ivr.menu', "Submenu", ondelete='RESTRICT',
        states={
            'invisible': ~Eval('action').in_(['submenu', 'language']),
            'required': Eval('action') == 'submenu',
            },
        help="For a language: the menu the caller goes to next (empty: "
        "the same menu again, in the new language).")
    queue = fields.Many2One(
        'cc.queue', "Queue", ondelete='RESTRICT',
        states={
            'invisible': Eval('action') != 'queue',
            'required': Eval('action') == 'queue',
            })
    priority = fields.Integer(
        "Priority Bonus",
        states={'invisible': Eval('action') != 'queue'},
        help="Added to the caller's queue priority.")
    language = fields.Char(
        "Language",
        states={
            'invisible': Eval('action') != 'language',
            'required': Eval('action') == 'language',
            },
        help="Asterisk language code the channel takes (zh, en); recorded "
        "on the call.")
    service = fields.Selection(
        'get_services', "Self-Service",
        states={
            'invisible': Eval('action') != 'self_service',
            'required': Eval('action') == 'self_service',
            })

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('menu_key_unique', Unique(t, t.menu, t.key),
                'cc_telephony.msg_ivr_option_key_unique'),
            ]
        cls._order.insert(0, ('key', 'ASC'))

    @classmethod
    def default_action(cls):
        return 'queue'

    @classmethod
    def default_priority(cls):
        return 0

    def get_rec_name(self, name):
        label = self.label or ''
        return f'{self.menu.code} {self.key} {label}'.strip()

    @classmethod
    def get_services(cls):
        return [(None, '')] + sorted(
            (name, service.label or name)
            for name, service in cls.ivr_services().items())

    @classmethod
    def validate_fields(cls, options, field_names):
        super().validate_fields(options, field_names)
        needs = {'submenu': 'submenu', 'queue': 'queue',
            'language': 'language', 'self_service': 'service'}
        for option in options:
            target = needs.get(option.action)
            if target and not getattr(option, target):
                raise ValidationError(gettext(
                        'cc_telephony.msg_ivr_option_target',
                        option=option.rec_name,
                        field=cls._fields[target].string))
            if (option.action == 'submenu' and option.submenu
                    and option.submenu == option.menu):
                raise ValidationError(gettext(
                        'cc_telephony.msg_ivr_option_own_menu',
                        option=option.rec_name))
            if (option.action == 'self_service' and option.service
                    and option.service not in cls.ivr_services()):
                raise ValidationError(gettext(
                        'cc_telephony.msg_ivr_option_service',
                        option=option.rec_name, service=option.service))

    def engine_option(self):
        return ivr_engine.Option(self.key, self.action,
            label=self.label or '',
            target=self.submenu.code if self.submenu else None,
            queue=self.queue.code if self.queue and self.queue.active
            else None,
            priority=self.priority or 0,
            language=self.language or None,
            service=self.service or None)

    # -- self-service: the hook other modules extend ---------------------

    @classmethod
    def ivr_services(cls):
        """{name: ivr_engine.Service} of the self-service actions; a module
        adds its own by extending this method (``super()`` first) and
        answers them with ``ivr_service_<name>``."""
        return {
            'account_number': ivr_engine.Service('account_number',
                label=gettext('cc_telephony.msg_ivr_service_account_number'),
                digits=20, prompt='cc-ivr-enter-account'),
            }

    @classmethod
    def ivr_serve(cls, name, request):
        """The ivr_engine.ServiceResult of the action ``name`` for
        ``request`` (a dict: uniqueid, caller, dnis, digits, language,
        path)."""
        method = getattr(cls, f'ivr_service_{name}', None)
        if method is None:
            return ivr_engine.ServiceResult(next='agent',
                outcome='unavailable')
        return method(request)

    @classmethod
    def ivr_service_account_number(cls, request):
        "The keyed account number travels with the call to an agent."
        digits = request.get('digits') or ''
        if not digits:
            return ivr_engine.ServiceResult(next='menu', outcome='no input')
        return ivr_engine.ServiceResult(
            variables={'CC_IVR_ACCOUNT': digits}, next='agent',
            outcome=digits)


class Call(metaclass=PoolMeta):
    __name__ = 'cc.call'
    ivr_language = fields.Char("IVR Language", readonly=True,
        help="The language the caller chose in the IVR.")

    @classmethod
    def _decision_values(cls, decision, links):
        values = super()._decision_values(decision, links)
        if decision.get('ivr_language'):
            values['ivr_language'] = decision['ivr_language']
        return values


# -- the FastAGI conversation ---------------------------------------------

class IvrDecision(routing.Decision):
    """A routing decision reached through the IVR: its explanation starts
    with the IVR's steps (keys ``ivr_<engine step>``), and it carries the
    path, language and collected variables to the dialplan and the call."""
    ivr_variables: dict = None
    ivr_language: str | None = None

    @classmethod
    def wrap(cls, decision, conversation):
        values = {f.name: getattr(decision, f.name)
            for f in dataclasses.fields(routing.Decision)}
        wrapped = cls(**values)
        wrapped.steps = [(f'ivr_{key}', params)
            for key, params in conversation.steps] + list(decision.steps)
        wrapped.reasons = ['ivr'] + [r for r in decision.reasons
            if r != 'ivr']
        wrapped.ivr_variables = conversation.variables_for_agent()
        wrapped.ivr_language = conversation.language
        return wrapped

    @property
    def explanation(self):
        sentences = []
        for key, params in self.steps:
            if key.startswith('ivr_'):
                sentences.append(ivr_engine.SENTENCES[key[4:]] % params)
            else:
                sentences.append(routing.SENTENCES[key] % params)
        return sentences

    def variables(self):
        values = super().variables()
        values.update(self.ivr_variables or {})
        return values

    def as_dict(self):
        values = super().as_dict()
        values['ivr_path'] = (self.ivr_variables or {}).get('CC_IVR_PATH')
        values['ivr_language'] = self.ivr_language
        return values


class MenuCache:
    "The menus, reloaded after ``max_age`` seconds (as the router's snapshot)."

    def __init__(self, max_age):
        self.max_age = max_age
        self.values = None
        self.loaded_at = None

    def get(self, router):
        import time
        if (self.values is not None
                and time.monotonic() - self.loaded_at <= self.max_age):
            return self.values
        if Transaction().database is not None:
            values = Pool().get('cc.ivr.menu').ivr_snapshot()
        else:
            with Transaction().start(router.database, router.user,
                    readonly=True):
                values = router.pool.get('cc.ivr.menu').ivr_snapshot()
        self.values, self.loaded_at = values, time.monotonic()
        return values


def menu_cache(router):
    cache = getattr(router, 'ivr_menus', None)
    if cache is None:
        cache = router.ivr_menus = MenuCache(router.snapshot.max_age)
    return cache


def is_ivr_script(script):
    "Whether an AGI request's script name asks for the IVR."
    return script == SCRIPT or script.startswith(SCRIPT + '/')


def start_menu(script, menus):
    """The menu a request starts in: the code after ``ivr/``, else the main
    menu (the first top-level menu by code); None when there is none."""
    code = script[len(SCRIPT) + 1:] if script.startswith(SCRIPT + '/') else ''
    if code:
        return code if code in menus else None
    tops = sorted(m.code for m in menus.by_code.values() if not m.parent)
    return tops[0] if tops else None


def serve_in_transaction(router, name, request):
    "Run a self-service action in a transaction of the router's database."
    if Transaction().database is not None:
        return Pool().get('cc.ivr.option').ivr_serve(name, request)
    with Transaction().start(router.database, router.user, readonly=True):
        return router.pool.get('cc.ivr.option').ivr_serve(name, request)


async def converse(agi, conversation, serve):
    """Play the conversation over ``agi`` (a fastagi.AGIChannel) until its
    Done step, which is returned; ``serve(name, digits)`` (a coroutine)
    answers a self-service step with a ServiceResult. ``CC_IVR_PATH`` is
    set as the path grows, so that the bridge sees where a caller who
    hangs up in the menus was (and a supervisor where a caller is)."""
    step = conversation.start()
    shown = None
    while not isinstance(step, ivr_engine.Done):
        if conversation.path != shown:
            shown = conversation.path
            await agi.set_variable('CC_IVR_PATH', shown)
        if isinstance(step, ivr_engine.Serve):
            try:
                result = await serve(step.name, step.digits)
            except Exception:
                logger.exception('IVR self-service %s failed', step.name)
                result = ivr_engine.ServiceResult(next='agent',
                    outcome='error')
            step = conversation.served(result)
            continue
        if step.language:
            await agi.set_variable('CHANNEL(language)', step.language)
        if step.digits > 1:
            # Input (an account number): '#' ends it early.
            keys, _ = await agi.get_data(step.prompt, step.timeout,
                step.digits)
        else:
            keys = await menu_key(agi, step)
        step = conversation.press(keys)
    return step


async def menu_key(agi, step):
    """One key for a menu: its notices, then its greeting, each played
    with every key as escape digit (a caller who knows the menu need not
    listen to it; '#' too, which GET DATA would take as the end of input),
    then WAIT FOR DIGIT for the menu's timeout."""
    escape = ''.join(ivr_engine.KEYS)
    for prompt in step.notices + ((step.prompt,) if step.prompt else ()):
        key = await agi.stream_file(prompt, escape)
        if key:
            return key
    return await agi.wait_for_digit(step.timeout)


async def handle_ivr(router, executor, env, agi, combined=True):
    """FastAGI handler of ``ivr`` and ``ivr/<menu>``: the menu
    conversation, then the routing decision it leads to, answered and
    recorded as router.handle does."""
    from .router import call_info, utcnow
    info = call_info(env)
    script = env.get('agi_network_script', '')
    loop = asyncio.get_running_loop()
    try:
        menus = await loop.run_in_executor(executor,
            menu_cache(router).get, router)
    except Exception:
        logger.exception('IVR menus not loaded: routing %s',
            info['uniqueid'])
        menus = ivr_engine.Menus()
    start = start_menu(script, menus)
    if start is None:
        # No such menu: the caller is routed as if no IVR were asked for.
        logger.warning('no IVR menu for %r: routing the call', script)
        from .router import handle
        await handle(router, executor, dict(env, agi_network_script='route'),
            agi, combined)
        return
    # The channel's own language (agi_language) is not the caller's choice:
    # the conversation records only what the menus set.
    conversation = ivr_engine.Conversation(menus, start)

    async def serve(name, digits):
        request = {'uniqueid': info['uniqueid'], 'caller': info['caller_raw'],
            'dnis': info['dnis'], 'digits': digits,
            'language': conversation.language, 'path': conversation.path}
        return await loop.run_in_executor(executor, serve_in_transaction,
            router, name, request)

    done = None
    try:
        await agi.answer()
        done = await converse(agi, conversation, serve)
        if done.kind == 'hangup':
            # The caller chose goodbye: the IVR ends the call.
            await agi.command('HANGUP')
    except AGIHangup:
        if done is None or done.kind != 'hangup':
            done = conversation.hung_up()
    now = utcnow()
    decision = await decide(router, executor, info, now, conversation,
        done)
    if done.kind != 'hangup':
        await agi.set_variables(decision.variables(), combined=combined)
    logger.debug('%s IVR %s: %s', info['uniqueid'], conversation.path,
        ' '.join(decision.explanation))
    if info['uniqueid']:
        router.record(info, decision, now)


async def decide(router, executor, info, now, conversation, done):
    "The IvrDecision for where the conversation ended."
    loop = asyncio.get_running_loop()
    if done.kind == 'hangup':
        decision = routing.Decision(action='ivr', target=done.menu)
        return IvrDecision.wrap(decision, conversation)
    try:
        decision = await loop.run_in_executor(executor, decide_route,
            router, info, now, done, conversation.menus[done.menu].name)
    except Exception as error:
        logger.exception('routing %s after the IVR failed', info['uniqueid'])
        decision = router.fallback(type(error).__name__)
    return IvrDecision.wrap(decision, conversation)


def decide_route(router, info, now, done, name=''):
    """The router's decision: for the dialled number (an agent), or with
    the queue the menu chose as the service of this call, so that every
    other rule (blacklist, opening hours, VIP, affinity, skills) applies."""
    if done.kind != 'queue' or not done.queue:
        return router.decide(info, now)
    try:
        request = router.request(info, now)
    except Exception:
        router.lookup.reset()
        raise
    service = routing.Service(info['dnis'], name or done.menu, done.queue,
        priority=done.priority)
    request = dataclasses.replace(request,
        services={**request.services, info['dnis']: service})
    return routing.decide(request)

