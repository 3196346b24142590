"""Scenarios: Poisson traffic for demos and benchmarks, scripts for tests.

A scenario is a dict (or JSON file)::

    {"start": "2026-01-05T01:00:00", "seed": 1,
     "queues": [{"name": "sales", "strategy": "rrmemory", "timeout": 15,
                 "wrapuptime": 5, "max_wait": 300, "overflow": "voicemail"}],
     "agents": [{"interface": "PJSIP/1001", "name": "Alice",
                 "queues": {"sales": 0}, "skills": {"billing": 4},
                 "answer_delay": 3, "no_answer_probability": 0.1,
                 "login_at": 0, "pauses": [{"at": 600, "duration": 300,
                                            "reason": "break"}]}],
     "traffic": {"rate_per_minute": 2, "duration": 3600, "queue": "sales",
                 "dnis": "95588", "ring_no_answer": 0.05,
                 "handle_time": {"dist": "exponential",
                 "mean": 180}, "patience": {"dist": "exponential",
                 "mean": 90}, "hold": {"probability": 0.2, "duration": 20},
                 "transfer": {"blind": 0.05, "attended": 0.05,
                              "target": "2000"}},
     "script": [{"at": 10, "do": "call", "caller": "13800138000",
                 "queue": "sales", "talk": 60},
                {"at": 20, "do": "call", "caller": "13700137000",
                 "ivr": "ivr", "digits": "2,1", "talk": 60}]}

A call with ``ivr`` (the AGI script: ``ivr`` or ``ivr/<menu>``) or
``digits`` goes through the router's IVR first, the caller pressing
``digits`` in order (``agi.Keypad``: '' for no key, ``h`` to hang up);
in traffic, ``"ivr"`` and ``"digits": ["1", "2,1", …]`` (one drawn per
call) do the same for every arrival, or for the share ``"ivr_share"`` of
them (the others are routed at once).

When the router offers a callback (``CC_ACTION`` ``callback``) or choices
on a long wait (``choice``), the caller presses the call's
``offer_key`` as [cc-route] of extensions.conf reads it: '1' a callback
(the call ends after a thank-you), for ``choice`` '2' a message
(voicemail), '3' the choice extension (dialled out), '4' information,
then the queue; none ('' or absent) and any other key: the queue. The
key is appended to ``CC_IVR_PATH`` (``callback/1``, ``choice/t``). In
traffic, ``"offer_keys": ["1", "", …]`` draws one per call.

The steps ``hold`` and ``unhold`` (``{"at": 30, "do": "hold", "phone":
"PJSIP/1001"}``) press a phone's hold key: Hold or Unhold on its channel
in its call, whether the call came in or the phone placed it.

A call step's ``transfer`` is ``{"kind": "blind" | "attended", "at": s
after the answer, "target": extension or queue, "ring": s the target
rings (2), "consult": s of an attended consultation (10), "after": s the
caller talks after the transfer, "cancel": true for an attended transfer
to an extension the agent gives up after the consultation, keeping the
caller (then "after" is the talk after it)}``. An extension is dialled as
``PJSIP/<target>`` (DialBegin, Ringing, DialEnd ANSWER, the bridge); when
it is an agent's phone (a member's state interface) the agent rings, then
talks. A blind transfer to a queue's name queues the caller again there
(not behind a Local-channel member: not modelled).

``ring_no_answer`` in traffic is the default of each agent's
``no_answer_probability``.  Skills map to app_queue the usual way: an agent
with skill S at proficiency P (1-5) joins the queue named S, if there is
one, with penalty 5 - P.  Distributions: a number (fixed), or
``{"dist": "exponential", "mean"}``, ``{"dist": "uniform", "low", "high"}``,
``{"dist": "lognormal", "mean", "sigma"}`` (mean of the distribution, in
seconds).
"""
import datetime as dt
import json
import math

from .engine import CallPlan, Simulator

SCRIPT_STEPS = ('call', 'login', 'logout', 'pause', 'unpause', 'hangup',
    'hold', 'unhold', 'restart')


def sample(spec, rng):
    "Draw one value in seconds from a distribution spec."
    if isinstance(spec, (int, float)):
        return float(spec)
    kind = spec.get('dist', 'fixed')
    if kind == 'exponential':
        return rng.expovariate(1 / spec['mean'])
    if kind == 'uniform':
        return rng.uniform(spec['low'], spec['high'])
    if kind == 'lognormal':
        sigma = spec['sigma']
        return rng.lognormvariate(math.log(spec['mean']) - sigma ** 2 / 2,
            sigma)
    if kind == 'fixed':
        return float(spec['value'])
    raise ValueError(f'unknown distribution {kind!r}')


def load(path):
    with open(path, encoding='utf-8') as scenario:
        return json.load(scenario)


def build(scenario, agi_url=None):
    "A Simulator with the scenario's queues, agents, traffic and script."
    start = dt.datetime.fromisoformat(
        scenario.get('start', '2026-01-05T01:00:00'))
    sim = Simulator(start, scenario.get('seed', 0), agi_url)
    for queue in scenario.get('queues', []):
        sim.add_queue(**queue)
    ring_no_answer = scenario.get('traffic', {}).get('ring_no_answer', 0)
    for agent in scenario.get('agents', []):
        schedule_agent(sim, {'no_answer_probability': ring_no_answer,
            **agent})
    if scenario.get('traffic'):
        schedule_traffic(sim, scenario['traffic'])
    for step in scenario.get('script', []):
        schedule_step(sim, step)
    return sim


def agent_queues(sim, agent):
    queues = dict(agent.get('queues', {}))
    for skill, proficiency in agent.get('skills', {}).items():
        if skill in sim.queues:
            queues.setdefault(skill, 5 - int(proficiency))
    return queues


def schedule_agent(sim, agent):
    interface = agent['interface']

    def login():
        for queue, penalty in agent_queues(sim, agent).items():
            sim.queue_add(queue, interface, penalty, name=agent.get('name'),
                state_interface=agent.get('state_interface'))
        member = sim.members[interface]
        member.answer_delay = agent.get('answer_delay', 3.0)
        member.no_answer_probability = agent.get('no_answer_probability', 0)
    sim.at(agent.get('login_at', 0), login)
    for pause in agent.get('pauses', []):
        sim.at(pause['at'], sim.queue_pause, interface, True, None,
            pause.get('reason', ''))
        sim.at(pause['at'] + pause['duration'], sim.queue_pause, interface,
            False, None, '')
    if agent.get('logout_at') is not None:
        sim.at(agent['logout_at'], logout, sim, interface)


def logout(sim, interface):
    for queue in list(sim.members[interface].memberships):
        sim.queue_remove(queue, interface)


def schedule_traffic(sim, traffic):
    "Poisson arrivals: exponential gaps at ``rate_per_minute``."
    rng, at = sim.random, 0.0
    while True:
        at += rng.expovariate(traffic['rate_per_minute'] / 60)
        if at >= traffic.get('duration', 3600):
            return
        sim.at(at, sim.arrive, random_plan(traffic, rng))


def random_plan(traffic, rng):
    talk = sample(traffic.get('handle_time', 180), rng)
    plan = CallPlan(caller=f'1{rng.randrange(3, 9)}{rng.randrange(10**9):09d}',
        dnis=traffic.get('dnis', '95588'), queue=traffic.get('queue'),
        patience=sample(traffic.get('patience', 600), rng), talk=talk)
    if (traffic.get('ivr') or traffic.get('digits')) and (
            rng.random() < traffic.get('ivr_share', 1)):
        plan.ivr = traffic.get('ivr') or 'ivr'
        plan.digits = rng.choice(traffic['digits']) if traffic.get(
            'digits') else None
    if traffic.get('offer_keys'):
        plan.offer_key = rng.choice(traffic['offer_keys'])
    hold = traffic.get('hold', {})
    if rng.random() < hold.get('probability', 0):
        plan.holds = [{'at': talk * 0.3,
            'duration': sample(hold.get('duration', 20), rng)}]
    transfer = traffic.get('transfer', {})
    draw = rng.random()
    for kind in ('blind', 'attended'):
        if draw < transfer.get(kind, 0):
            plan.transfer = {'kind': kind, 'at': talk * 0.5,
                'target': transfer.get('target', '2000'),
                'after': talk * 0.5}
            break
        draw -= transfer.get(kind, 0)
    return plan


def schedule_step(sim, step):
    "One step of a script; see SCRIPT_STEPS."
    action, at = step['do'], step['at']
    if action == 'call':
        fields = {key: value for key, value in step.items()
            if key not in ('do', 'at')}
        sim.at(at, sim.arrive, CallPlan(**fields))
    elif action == 'login':
        sim.at(at, sim.queue_add, step['queue'], step['agent'],
            step.get('penalty', 0), False, '', step.get('name'),
            step.get('state_interface'))
    elif action == 'logout':
        sim.at(at, sim.queue_remove, step['queue'], step['agent'])
    elif action in ('pause', 'unpause'):
        sim.at(at, sim.queue_pause, step['agent'], action == 'pause',
            step.get('queue'), step.get('reason', ''))
    elif action == 'hangup':
        sim.at(at, sim.hangup_channel, step['channel'])
    elif action in ('hold', 'unhold'):
        sim.at(at, sim.phone_hold, step['phone'], action == 'hold')
    elif action == 'restart':
        sim.at(at, sim.restart)
    else:
        raise ValueError(f'unknown step {action!r}, expected {SCRIPT_STEPS}')
