"""The IVR's pure engine: where a caller is in the voice menus and what
happens at the next key press.

No ORM, no I/O. The router builds :class:`Menus` from ``cc.ivr.menu`` (see
ivr.py) and runs one :class:`Conversation` per call: ``start()`` and each
``press(key)`` return the next :class:`Step`:

:class:`Ask`
    set the channel's language if ``language`` is given, play ``notices``
    (an invalid-input prompt, a self-service answer), then play ``prompt``
    and collect up to ``digits`` keys, waiting ``timeout`` seconds after it
    (FastAGI ``GET DATA``); the keys (or ``None`` on a timeout) go to
    ``press``. ``service`` is set when the keys are the input of a
    self-service action.
:class:`Serve`
    run the self-service action ``name`` with the keys collected for it
    (none for a menu's intro, run when the caller first enters the menu)
    and give its :class:`ServiceResult` to ``served``.
:class:`Done`
    the conversation is over: ``kind`` is ``queue`` (the menu chose
    ``queue``, with ``priority`` added), ``agent`` (the normal routing for
    the dialled number, also after too many invalid or missing keys) or
    ``hangup``.

The path walked is the menu the call started in followed by each accepted
key, joined by ``>`` (``main>2>1``); invalid keys and timeouts are not in
it but in ``steps``, the explanation (keys of :data:`SENTENCES`, shown
translated as the messages ``cc_telephony.msg_ivr_<key>``).
"""
from dataclasses import dataclass, field

ACTIONS = ('submenu', 'queue', 'agent', 'back', 'main', 'language',
    'self_service', 'hangup')
KEYS = tuple('0123456789*#')
PATH_SEPARATOR = '>'
# The explanation's sentences, by step key (see the module's docstring).
SENTENCES = {
    'start': 'IVR menu %(menu)s.',
    'intro': 'Menu %(menu)s opens with self-service %(service)s.',
    'submenu': 'Key %(key)s: menu %(menu)s.',
    'back': 'Key %(key)s: back to menu %(menu)s.',
    'main': 'Key %(key)s: main menu %(menu)s.',
    'language': 'Key %(key)s: language %(language)s.',
    'queue': 'Key %(key)s: queue %(queue)s.',
    'agent': 'Key %(key)s: to an agent.',
    'service': 'Key %(key)s: self-service %(service)s.',
    'served': 'Self-service %(service)s: %(outcome)s.',
    'hangup': 'Key %(key)s: goodbye.',
    'invalid': 'Key %(key)s is not an option of menu %(menu)s.',
    'timeout': 'No key in menu %(menu)s.',
    'retries': 'Menu %(menu)s: %(count)s invalid or missing keys: to an '
    'agent.',
    'caller_hangup': 'The caller hung up in menu %(menu)s.',
    }


@dataclass(frozen=True)
class Option:
    """A key of a menu. ``target`` is the submenu's code (``submenu``, and
    optionally ``language``: where to go next), ``queue`` the queue's code,
    ``language`` the language code, ``service`` the self-service action."""
    key: str
    action: str
    label: str = ''
    target: str | None = None
    queue: str | None = None
    priority: int = 0
    language: str | None = None
    service: str | None = None


@dataclass(frozen=True)
class Menu:
    "A voice menu; ``options`` maps a key to its Option."
    code: str
    name: str = ''
    greeting: str = ''
    parent: str | None = None
    language: str | None = None
    timeout: float = 5.0
    retries: int = 2
    invalid_prompt: str | None = None
    options: dict = field(default_factory=dict)
    # A self-service without input run when the caller first enters the
    # menu; what it plays comes before the greeting (TEL-61: what the
    # caller's history makes likely, e.g. the state of their open ticket).
    intro: str | None = None


@dataclass(frozen=True)
class Service:
    """A self-service action as the engine sees it: how many keys it needs
    (0: none) and the prompt that asks for them."""
    name: str
    label: str = ''
    digits: int = 0
    prompt: str | None = None


@dataclass
class ServiceResult:
    """What a self-service action answers: sound files to play, channel
    variables that travel with the call, then ``next``: ``menu`` (back to
    the menu), ``agent`` or ``hangup``; ``outcome`` says it in a few words
    for the explanation."""
    prompts: tuple = ()
    variables: dict = field(default_factory=dict)
    next: str = 'menu'
    outcome: str = ''


class Menus:
    "The configured menus by code, with their options."

    def __init__(self, menus=(), services=None):
        self.by_code = {menu.code: menu for menu in menus}
        self.services = dict(services or {})

    def __contains__(self, code):
        return code in self.by_code

    def __getitem__(self, code):
        return self.by_code[code]

    def root(self, code):
        "The top of the menu ``code``'s tree (its main menu)."
        seen = set()
        menu = self.by_code[code]
        while menu.parent and menu.parent in self.by_code and (
                menu.code not in seen):
            seen.add(menu.code)
            menu = self.by_code[menu.parent]
        return menu.code


@dataclass(frozen=True)
class Ask:
    menu: str
    prompt: str
    timeout: float
    digits: int = 1
    notices: tuple = ()
    language: str | None = None
    service: str | None = None


@dataclass(frozen=True)
class Serve:
    menu: str
    name: str
    digits: str = ''


@dataclass(frozen=True)
class Done:
    kind: str               # 'queue', 'agent' or 'hangup'
    menu: str
    queue: str | None = None
    priority: int = 0


class Conversation:
    """One caller in the menus of ``menus``, from menu ``start``.

    ``path``, ``language``, ``variables`` (set by self-service) and
    ``steps`` (the explanation) are what travels with the call."""

    def __init__(self, menus, start, language=None):
        if start not in menus:
            raise KeyError(start)
        self.menus = menus
        self.start_menu = start
        self.main = menus.root(start)
        self.stack = [start]
        self.keys = []
        self.language = language
        self.variables = {}
        self.inputs = {}
        self.steps = []
        self.failures = 0
        self.done = None
        self._pending_language = None
        self._notices = ()
        self._service = None
        self._introduced = set()

    # -- what travels with the call ------------------------------------

    @property
    def menu(self):
        return self.menus[self.stack[-1]]

    @property
    def path(self):
        return PATH_SEPARATOR.join([self.start_menu] + self.keys)

    @property
    def explanation(self):
        return [SENTENCES[key] % params for key, params in self.steps]

    def note(self, step, **params):
        self.steps.append((step, params))

    # -- steps -----------------------------------------------------------

    def start(self):
        self.note('start', menu=self.start_menu)
        return self._enter(self.start_menu)

    def press(self, keys):
        """The keys collected by the last Ask (``None`` or '': nothing
        came before its timeout); return the next Step."""
        if self.done is not None:
            return self.done
        if self._service is not None:
            service, self._service = self._service, None
            return Serve(self.menu.code, service.name, keys or '')
        menu = self.menu
        key = (keys or '')[:1]
        if not key:
            self.note('timeout', menu=menu.code)
            return self._failed()
        option = menu.options.get(key)
        if option is None:
            self.note('invalid', key=key, menu=menu.code)
            return self._failed(invalid=True)
        self.keys.append(key)
        self.failures = 0
        return self._choose(menu, option)

    def served(self, result):
        "The ServiceResult of the Serve step; return the next Step."
        name = self._served_name
        self.variables.update(result.variables or {})
        self.note('served', service=name, outcome=result.outcome or '-')
        if result.next == 'agent':
            return self._finish('agent')
        if result.next == 'hangup':
            return self._finish('hangup')
        self._notices = tuple(result.prompts or ())
        return self._ask()

    def hung_up(self):
        "The caller hung up: the conversation is over."
        self.note('caller_hangup', menu=self.menu.code)
        return self._finish('hangup')

    # -- inside ----------------------------------------------------------

    def _choose(self, menu, option):
        key = option.key
        action = option.action
        if action == 'submenu' and option.target in self.menus:
            self.note('submenu', key=key, menu=option.target)
            self.stack.append(option.target)
            return self._enter(option.target)
        if action == 'back':
            if len(self.stack) > 1:
                self.stack.pop()
            elif menu.parent in self.menus:
                self.stack[-1:] = [menu.parent]
            self.note('back', key=key, menu=self.menu.code)
            return self._enter(self.menu.code)
        if action == 'main':
            self.stack = [self.main]
            self.note('main', key=key, menu=self.main)
            return self._enter(self.main)
        if action == 'language' and option.language:
            self.note('language', key=key, language=option.language)
            self._set_language(option.language)
            if option.target in self.menus:
                self.stack.append(option.target)
                return self._enter(option.target)
            return self._ask()
        if action == 'queue' and option.queue:
            self.note('queue', key=key, queue=option.queue)
            return self._finish('queue', option.queue, option.priority)
        if action == 'self_service' and option.service:
            service = self.menus.services.get(option.service)
            if service is not None:
                self.note('service', key=key, service=option.service)
                self._served_name = service.name
                if service.digits:
                    self._service = service
                    return Ask(menu.code, service.prompt or menu.greeting,
                        menu.timeout, digits=service.digits,
                        language=self._take_language(),
                        service=service.name)
                return Serve(menu.code, service.name)
        if action == 'hangup':
            self.note('hangup', key=key)
            return self._finish('hangup')
        # 'agent', and an option whose target is gone: a human helps.
        self.note('agent', key=key)
        return self._finish('agent')

    def _enter(self, code):
        menu = self.menus[code]
        self.failures = 0
        if menu.language and menu.language != self.language:
            self._set_language(menu.language)
        return self._intro(menu) or self._ask()

    def _intro(self, menu):
        "The menu's intro self-service, the first time the caller enters."
        service = self.menus.services.get(menu.intro or '')
        if service is None or service.digits or menu.code in self._introduced:
            return None
        self._introduced.add(menu.code)
        self._served_name = service.name
        self.note('intro', menu=menu.code, service=service.name)
        return Serve(menu.code, service.name)

    def _set_language(self, language):
        self.language = self._pending_language = language

    def _take_language(self):
        language, self._pending_language = self._pending_language, None
        return language

    def _ask(self):
        menu = self.menu
        notices, self._notices = self._notices, ()
        return Ask(menu.code, menu.greeting, menu.timeout, notices=notices,
            language=self._take_language())

    def _failed(self, invalid=False):
        menu = self.menu
        self.failures += 1
        if self.failures > menu.retries:
            self.note('retries', menu=menu.code, count=self.failures)
            return self._finish('agent')
        if invalid and menu.invalid_prompt:
            self._notices = (menu.invalid_prompt,)
        return self._ask()

    def _finish(self, kind, queue=None, priority=0):
        self.done = Done(kind, self.menu.code, queue, priority or 0)
        return self.done

    def variables_for_agent(self):
        """The channel variables that carry the conversation to the
        dialplan and the agent: path, language, self-service results."""
        values = {'CC_IVR_PATH': self.path}
        if self.language:
            values['CC_LANGUAGE'] = self.language
        values.update(self.variables)
        return values


def run_script(menus, start, presses, results=None):
    """Drive a Conversation with scripted ``presses`` (a list of key
    strings, '' or None for a timeout; the caller stays silent when they
    run out) and self-service ``results`` ({name: ServiceResult}); return
    (conversation, list of steps). For tests and explanations."""
    conversation = Conversation(menus, start)
    presses = list(presses)
    results = results or {}
    steps = [conversation.start()]
    while not isinstance(steps[-1], Done):
        if len(steps) > 1000:
            raise RuntimeError('IVR conversation does not end')
        step = steps[-1]
        if isinstance(step, Serve):
            steps.append(conversation.served(
                    results.get(step.name) or ServiceResult()))
        else:
            steps.append(conversation.press(
                    presses.pop(0) if presses else None))
    return conversation, steps
