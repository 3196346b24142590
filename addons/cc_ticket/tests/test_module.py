import datetime as dt
import json
import socketserver
import threading
import unittest
from decimal import Decimal
from io import BytesIO
from http.server import BaseHTTPRequestHandler, HTTPServer
from unittest.mock import patch
from urllib.parse import parse_qsl, urlparse

from trytond.exceptions import UserError
from trytond.model.exceptions import ValidationError
from trytond.modules.cc_ticket import gateway
from trytond.pool import Pool
from trytond.sendmail import SMTPDataManager
from trytond.tests.test_tryton import ModuleTestCase, with_transaction
from trytond.transaction import Transaction, check_access


def ref(module, xml_id):
    return Pool().get('ir.model.data').get_id(module, xml_id)


class Fixture:
    "Helpers creating the records most tests need."

    def user(self, login, *groups, **values):
        User = Pool().get('res.user')
        user, = User.create([{
                    'login': login, 'name': login.title(),
                    'groups': [('add', [ref(*g.split('.')) for g in groups])],
                    **values}])
        return user

    def team(self, name, users=(), leader=None, manager=None):
        Team = Pool().get('cc.team')
        team, = Team.create([{
                    'name': name, 'users': [('add', [u.id for u in users])],
                    'leader': leader.id if leader else None,
                    'manager': manager.id if manager else None}])
        return team

    def type(self, name='Complaint', code='complaint', **values):
        Type = Pool().get('cc.ticket.type')
        type_, = Type.create([{
                    'name': name, 'code': code, 'kind': 'complaint',
                    **values}])
        return type_

    def party(self, name='Zhang San'):
        Party = Pool().get('party.party')
        party, = Party.create([{'name': name}])
        return party

    def ticket(self, type_, **values):
        Ticket = Pool().get('cc.ticket')
        ticket, = Ticket.create([{
                    'subject': 'Broadband down', 'type': type_.id,
                    **values}])
        return ticket


class CcTicketTestCase(Fixture, ModuleTestCase):
    "Test cc_ticket module"
    module = 'cc_ticket'
    # The optional link to calls is checked with cc_telephony active.
    extras = ['cc_telephony']

    def notified(self, ticket):
        "Users notified about the ticket in this transaction."
        return {n.user.id for n in Transaction().user_notifications
            if n.model == 'cc.ticket' and json.loads(n.records) == [ticket.id]}

    @with_transaction()
    def test_ticket_number_and_timers(self):
        "A new ticket gets a number, a first-response and a resolution timer"
        type_ = self.type()
        ticket = self.ticket(type_)
        self.assertTrue(ticket.number.startswith('GD'))
        self.assertEqual(
            sorted(t.kind for t in ticket.timers),
            ['first_response', 'resolution'])
        self.assertEqual(ticket.sla_status, 'on_time')
        self.assertEqual([(h.from_state, h.to_state) for h in ticket.history],
            [(None, 'new')])

    @with_transaction()
    def test_required_fields_per_type(self):
        "A type's required fields are enforced with a clear message"
        pool = Pool()
        Field = pool.get('ir.model.field')
        party_field, = Field.search([
                ('model', '=', 'cc.ticket'), ('name', '=', 'party')])
        parent = self.type(
            'Complaint', 'complaint', required_fields=[('add', [party_field.id])])
        child = self.type('Network Complaint', 'net', parent=parent.id)
        with self.assertRaises(ValidationError) as cm:
            self.ticket(child)
        self.assertIn('"Customer"', cm.exception.message)
        self.assertIn('Network Complaint', cm.exception.message)
        ticket = self.ticket(child, party=self.party().id)
        self.assertTrue(ticket.id)

    @with_transaction()
    def test_life_cycle_and_pause(self):
        "Waiting states pause the resolution clock; history logs every step"
        pool = Pool()
        Ticket = pool.get('cc.ticket')
        ticket = self.ticket(self.type())
        Ticket.accept([ticket])
        Ticket.wait_customer([ticket])
        resolution, = [t for t in ticket.timers if t.kind == 'resolution']
        first, = [t for t in ticket.timers if t.kind == 'first_response']
        self.assertEqual(first.status, 'met')
        self.assertEqual(resolution.status, 'paused')
        self.assertIsNone(resolution.running_since)
        self.assertIsNone(resolution.next_deadline)
        self.assertEqual(ticket.sla_status, 'paused')
        # Business time is never a whole number of tenths of a minute.
        pool.get('cc.ticket.sla').write(
            [resolution], {'elapsed': dt.timedelta(seconds=459.26)})
        Ticket.resume([ticket])
        resolution = pool.get('cc.ticket.sla')(resolution.id)
        self.assertIsNotNone(resolution.running_since)
        self.assertIsNotNone(resolution.next_deadline)
        Ticket.resolve([ticket])
        self.assertEqual(ticket.state, 'resolved')
        self.assertAlmostEqual(ticket.resolution_minutes, 7.7, delta=0.2)
        self.assertEqual(ticket.resolution_minutes,
            round(ticket.resolution_minutes, 1))
        self.assertEqual(len(ticket.followups), 1)
        self.assertTrue(ticket.followups[0].due_date)
        self.assertEqual(
            [(h.from_state, h.to_state) for h in reversed(ticket.history)], [
                (None, 'new'), ('new', 'accepted'),
                ('accepted', 'waiting_customer'),
                ('waiting_customer', 'in_progress'),
                ('in_progress', 'resolved')])

    @with_transaction()
    def test_policy_matching(self):
        "Policies match by type tree, priority and channel in sequence order"
        pool = Pool()
        Policy = pool.get('cc.sla.policy')
        parent = self.type()
        child = self.type('Network', 'net', parent=parent.id)
        urgent, generic = Policy.create([{
                    'name': 'Urgent', 'sequence': 1, 'ticket_type': parent.id,
                    'priority': '3', 'resolution_minutes': 60,
                    'first_response_minutes': 10,
                    }, {
                    'name': 'Complaints', 'sequence': 2,
                    'ticket_type': parent.id, 'resolution_minutes': 600,
                    }])
        ticket = self.ticket(child, priority='3')
        self.assertEqual(ticket.sla_policy(), urgent)
        resolution, = [t for t in ticket.timers if t.kind == 'resolution']
        self.assertEqual(resolution.target_minutes, 60)
        ticket.priority = '1'
        ticket.save()
        resolution = pool.get('cc.ticket.sla')(resolution.id)
        # Re-classified: new target, same accumulated time.
        self.assertEqual(resolution.policy, generic)
        self.assertEqual(resolution.target_minutes, 600)
        other = self.ticket(self.type('Consultation', 'cons'))
        self.assertIsNone(other.sla_policy())

    @with_transaction()
    def test_cron_evaluates_only_due_timers(self):
        "The SLA pass reads due timers only, then escalates along the chain"
        pool = Pool()
        Timer = pool.get('cc.ticket.sla')
        Ticket = pool.get('cc.ticket')
        Policy = pool.get('cc.sla.policy')
        owner = self.user('owner', 'cc_base.group_cc_agent', email='o@x.cn')
        leader = self.user('leader', 'cc_base.group_cc_team_leader')
        manager = self.user('manager', 'cc_base.group_cc_supervisor')
        team = self.team('A', [owner], leader, manager)
        Policy.create([{'name': 'All', 'resolution_minutes': 60,
                    'first_response_minutes': 30, 'manager_minutes': 60}])
        type_ = self.type()
        late = self.ticket(type_, owner=owner.id, team=team.id)
        Ticket.accept([late])
        self.ticket(type_, owner=owner.id, team=team.id)
        timer, = [t for t in late.timers if t.kind == 'resolution']
        start = timer.running_since
        cal = timer.engine
        # Nothing is due yet.
        self.assertEqual(Timer.evaluate(now=start), 0)
        # Warning: the late ticket's resolution timer is due, and both
        # timers of the other ticket (its first response was not stopped).
        at_warning = cal.add_business_minutes(start, 50)
        Transaction().user_notifications.clear()
        self.assertEqual(Timer.evaluate(now=at_warning), 3)
        timer = Timer(timer.id)
        self.assertEqual(timer.status, 'warning')
        self.assertEqual(timer.escalation_level, 1)
        self.assertEqual(Ticket(late.id).sla_status, 'warning')
        self.assertEqual(self.notified(late), {owner.id})
        # Breach: owner and team leader.
        Transaction().user_notifications.clear()
        at_breach = cal.add_business_minutes(start, 61)
        Timer.evaluate(now=at_breach)
        timer = Timer(timer.id)
        self.assertEqual(timer.status, 'breached')
        self.assertEqual(timer.escalation_level, 2)
        self.assertGreater(timer.next_deadline, at_breach)
        self.assertEqual(self.notified(late), {owner.id, leader.id})
        # One business hour after the breach: the manager.
        Transaction().user_notifications.clear()
        Timer.evaluate(now=cal.add_business_minutes(start, 125))
        timer = Timer(timer.id)
        self.assertEqual(timer.escalation_level, 3)
        self.assertIsNone(timer.next_deadline)
        self.assertEqual(
            self.notified(late), {owner.id, leader.id, manager.id})

    @with_transaction()
    def test_second_contact(self):
        "A new ticket on an open one of the same customer and type is linked"
        pool = Pool()
        Ticket = pool.get('cc.ticket')
        type_ = self.type()
        party = self.party()
        first = self.ticket(type_, party=party.id, contact_number='13800138000')
        self.assertFalse(first.second_contact)
        second = self.ticket(type_, party=party.id)
        self.assertTrue(second.second_contact)
        self.assertEqual(second.related_ticket, first)
        third = self.ticket(type_, party=party.id)
        self.assertEqual(third.related_ticket, first)
        other_type = self.ticket(self.type('Fault', 'fault'), party=party.id)
        self.assertFalse(other_type.second_contact)
        # Likely duplicates are shown before saving.
        draft = Ticket(party=party, contact_number=None)
        self.assertEqual(
            set(draft.on_change_with_duplicates()),
            {first.id, second.id, third.id, other_type.id})

    def timer_rows(self, tickets):
        "What the SLA engine stored for each ticket's timers, by kind."
        return [sorted(
                (t.kind, t.policy, t.calendar, t.target_minutes,
                    t.warning_share, t.manager_minutes, t.elapsed,
                    t.running_since, t.stopped, t.status, t.warning_date,
                    t.deadline, t.next_deadline, t.escalation_level)
                for t in ticket.timers) for ticket in tickets]

    def batch_world(self):
        "Types, a policy and a team on its own calendar for batch tests."
        pool = Pool()
        Policy = pool.get('cc.sla.policy')
        Calendar = pool.get('cc.calendar')
        Team = pool.get('cc.team')
        calendar, = Calendar.create([{'name': 'Night', 'lines': [('create', [
                            {'weekday': str(d), 'start_time': dt.time(20),
                                'end_time': dt.time(0)} for d in range(7)])]}])
        team, = Team.create([{'name': 'Night', 'cc_calendar': calendar.id}])
        Policy.create([{'name': 'Urgent', 'sequence': 1, 'priority': '3',
                    'first_response_minutes': 10, 'resolution_minutes': 90,
                    'manager_minutes': 30, 'warning_share': 0.5}])
        return self.type(), self.type('Fault', 'fault'), team

    def batch_values(self, complaint, fault, team, suffix):
        """An open complaint of Zhang, then tickets of which the complaint
        of Zhang and the second complaint of Li are second contacts."""
        zhang = self.party('Zhang San ' + suffix)
        li = self.party('Li Si ' + suffix)
        earlier = self.ticket(complaint, party=zhang.id)
        return earlier, [
            {'subject': 'A', 'type': complaint.id, 'party': zhang.id},
            {'subject': 'B', 'type': complaint.id, 'party': li.id,
                'priority': '3'},
            {'subject': 'C', 'type': fault.id, 'party': li.id,
                'team': team.id},
            {'subject': 'D', 'type': complaint.id, 'party': li.id,
                'contact_number': '138 0013 8000'},
            {'subject': 'E', 'type': fault.id, 'priority': '3',
                'team': team.id},
            ]

    @with_transaction()
    def test_batch_create_same_as_single(self):
        "Creating tickets in one call gives what creating them one by one gives"
        self.check_batch_same_as_single()

    @with_transaction()
    def test_chunked_batch_create_same_as_single(self):
        "A batch created in chunks links second contacts across the chunks"
        with patch('trytond.modules.cc_ticket.ticket.CREATE_CHUNK', 2):
            self.check_batch_same_as_single()

    def check_batch_same_as_single(self):
        pool = Pool()
        Ticket = pool.get('cc.ticket')
        world = self.batch_world()
        # Two identical sets of customers: one gets its tickets one by one,
        # the other in one call.
        earlier_single, vlist_single = self.batch_values(*world, 'single')
        earlier_batch, vlist_batch = self.batch_values(*world, 'batch')
        now = dt.datetime(2025, 6, 17, 3, 0)  # a Tuesday, 11:00 in Beijing
        with patch('trytond.modules.cc_ticket.ticket.dt') as clock:
            clock.datetime.now.return_value = now
            clock.timedelta = dt.timedelta
            singles = [Ticket.create([v])[0] for v in vlist_single]
            batch = Ticket.create(vlist_batch)
        self.assertEqual(self.timer_rows(batch), self.timer_rows(singles))
        self.assertEqual(
            {t.running_since for b in batch for t in b.timers}, {now})

        def links(tickets, earlier):
            index = {t.id: i for i, t in enumerate(tickets)}
            index[earlier.id] = 'earlier'
            return [(t.second_contact,
                    index[t.related_ticket.id] if t.related_ticket else None,
                    t.sla_status, t.tier, t.contact_number,
                    [(h.from_state, h.to_state) for h in t.history])
                for t in tickets]
        self.assertEqual(
            links(batch, earlier_batch), links(singles, earlier_single))
        self.assertEqual(
            [(t.second_contact, t.related_ticket) for t in batch], [
                (True, earlier_batch), (False, None), (False, None),
                (True, batch[1]), (False, None)])
        self.assertEqual(batch[3].contact_number, '+8613800138000')
        numbers = [t.number for t in singles + batch]
        self.assertEqual(numbers, sorted(numbers))
        self.assertEqual(len(set(numbers)), len(numbers))

    @with_transaction()
    def test_batch_second_contact_within_batch(self):
        "Within one create, a ticket is the second contact of an earlier one"
        pool = Pool()
        Ticket = pool.get('cc.ticket')
        type_ = self.type()
        party = self.party()
        first, second, third = Ticket.create([
                {'subject': s, 'type': type_.id, 'party': party.id}
                for s in ['1', '2', '3']])
        self.assertFalse(first.second_contact)
        self.assertIsNone(first.related_ticket)
        self.assertEqual(second.related_ticket, first)
        self.assertEqual(third.related_ticket, first)
        self.assertTrue(third.second_contact)

    @with_transaction()
    def test_required_fields_follow_type_changes(self):
        "Required fields added to a parent type apply at once to sub-types"
        pool = Pool()
        Field = pool.get('ir.model.field')
        Type = pool.get('cc.ticket.type')
        parent = self.type()
        child = self.type('Network', 'net', parent=parent.id)
        self.ticket(child)
        party_field, = Field.search([
                ('model', '=', 'cc.ticket'), ('name', '=', 'party')])
        Type.write([parent], {'required_fields': [('add', [party_field.id])]})
        with self.assertRaises(ValidationError):
            self.ticket(child)
        Type.write([child], {'parent': None})
        self.ticket(child)
        self.assertEqual(
            [f.name for f in parent.all_required_fields()], ['party'])

    @with_transaction()
    def test_pass_notifies_in_bulk(self):
        "A pass gives one notification per ticket, one live toast per user"
        pool = Pool()
        Timer = pool.get('cc.ticket.sla')
        Ticket = pool.get('cc.ticket')
        Policy = pool.get('cc.sla.policy')
        owner = self.user('owner', 'cc_base.group_cc_agent')
        other = self.user('other', 'cc_base.group_cc_agent')
        Policy.create([{'name': 'All', 'resolution_minutes': 60,
                    'first_response_minutes': 30}])
        type_ = self.type()
        mine = Ticket.create([{'subject': str(n), 'type': type_.id,
                    'owner': owner.id} for n in range(3)])
        theirs, = Ticket.create([{'subject': 'x', 'type': type_.id,
                    'owner': other.id}])
        timer = mine[0].timers[0]
        at_warning = timer.engine.add_business_minutes(
            timer.running_since, 50)
        Transaction().user_notifications.clear()
        with patch.object(gateway, 'bus_notify') as toast:
            # Both timers of each ticket are due: the first response is
            # breached, the resolution reaches its warning.
            self.assertEqual(Timer.evaluate(now=at_warning), 8)
        for ticket in mine:
            self.assertEqual(
                {(n.user.id, n.label[:12]) for n in Transaction()
                    .user_notifications
                    if json.loads(n.records) == [ticket.id]},
                {(owner.id, 'SLA breached'), (owner.id, 'SLA warning:')})
        self.assertEqual(self.notified(theirs), {other.id})
        toasts = {c.kwargs['user']: c.args for c in toast.call_args_list}
        self.assertEqual(len(toast.call_args_list), 2)
        self.assertIn('6 alerts', toasts[owner.id][0])
        self.assertIn('2 alerts', toasts[other.id][0])
        self.assertIn(theirs.rec_name, toasts[other.id][1])
        self.assertEqual(
            {t.sla_status for t in Ticket.browse(mine + [theirs])},
            {'breached'})

    @with_transaction()
    def test_pass_digest_above_threshold(self):
        "Above the threshold a user gets one digest instead of each alert"
        pool = Pool()
        Timer = pool.get('cc.ticket.sla')
        Ticket = pool.get('cc.ticket')
        Policy = pool.get('cc.sla.policy')
        owner = self.user('owner', 'cc_base.group_cc_agent', email='o@x.cn',
            cc_mobile='+8613800138000')
        Policy.create([{'name': 'All', 'resolution_minutes': 60,
                    'first_response_minutes': 30}])
        type_ = self.type()
        tickets = Ticket.create([{'subject': str(n), 'type': type_.id,
                    'owner': owner.id} for n in range(3)])
        timer = tickets[0].timers[0]
        at_breach = timer.engine.add_business_minutes(
            timer.running_since, 61)
        Transaction().user_notifications.clear()
        with patch.object(gateway, 'DIGEST_ABOVE', 5), \
                patch.object(gateway, 'send_message_transactional') as mail, \
                patch.object(gateway.Notifier, 'sms') as sms:
            self.assertEqual(Timer.evaluate(now=at_breach), 6)
        notification, = [n for n in Transaction().user_notifications
            if n.user.id == owner.id]
        self.assertEqual(
            sorted(json.loads(notification.records)),
            sorted(t.id for t in tickets))
        self.assertIn('6 alerts', notification.label)
        self.assertIn(tickets[0].rec_name, notification.description)
        message, = [c.args[0] for c in mail.call_args_list]
        self.assertIn('6 alerts', message['Subject'])
        self.assertEqual(message.get_content().count('SLA breached'), 6)
        self.assertEqual(len(sms.call_args_list), 1)

    @with_transaction()
    def test_compensation_limit(self):
        "Above the limit a compensation needs approval by someone else"
        pool = Pool()
        Compensation = pool.get('cc.ticket.compensation')
        agent = self.user('agent', 'cc_base.group_cc_agent')
        leader = self.user('leader', 'cc_base.group_cc_team_leader')
        type_ = self.type(compensation_allowed=True)
        ticket = self.ticket(type_)
        small, big = Compensation.create([
                {'ticket': ticket.id, 'amount': Decimal(30), 'reason': 'x'},
                {'ticket': ticket.id, 'amount': Decimal(120), 'reason': 'y'},
                ])
        with Transaction().set_user(agent.id):
            Compensation.grant([small])
            with self.assertRaises(UserError) as cm:
                Compensation.grant([big])
            self.assertIn('above your limit', cm.exception.message)
            Compensation.request_approval([big])
            with self.assertRaises(UserError):
                Compensation.approve([big])
        self.assertEqual(small.state, 'granted')
        self.assertEqual(big.state, 'waiting')
        self.assertTrue(big.above_limit)
        with Transaction().set_user(leader.id):
            Compensation.approve([big])
        self.assertEqual(big.state, 'granted')
        self.assertEqual(big.approved_by, leader)

    @with_transaction()
    def test_compensation_type_not_allowed(self):
        pool = Pool()
        Compensation = pool.get('cc.ticket.compensation')
        ticket = self.ticket(self.type(compensation_allowed=False))
        with self.assertRaises(UserError):
            Compensation.create([
                    {'ticket': ticket.id, 'amount': Decimal(1), 'reason': 'x'}])

    @with_transaction()
    def test_dispatch(self):
        "Departments accept dispatched tickets or reject them with a reason"
        pool = Pool()
        Ticket = pool.get('cc.ticket')
        Department = pool.get('cc.department')
        Dispatch = pool.get('cc.ticket.dispatch')
        clerk = self.user('clerk', 'cc_ticket.group_cc_department')
        outsider = self.user('outsider', 'cc_ticket.group_cc_department')
        department, = Department.create([{
                    'name': 'Network Ops', 'users': [('add', [clerk.id])]}])
        ticket = self.ticket(self.type())
        Ticket.accept([ticket])
        with self.assertRaises(UserError):
            Ticket.dispatch([ticket])
        ticket.department = department
        ticket.save()
        Ticket.dispatch([ticket])
        dispatch, = ticket.dispatches
        self.assertEqual(ticket.state, 'dispatched')
        with Transaction().set_user(outsider.id):
            with self.assertRaises(UserError):
                Dispatch.accept([dispatch])
        with Transaction().set_user(clerk.id):
            with self.assertRaises(UserError):
                Dispatch.reject([dispatch])
            dispatch.reject_reason = 'Not our area'
            dispatch.save()
            Dispatch.reject([dispatch])
        ticket = Ticket(ticket.id)
        self.assertEqual(ticket.state, 'accepted')
        self.assertIsNone(ticket.department)
        self.assertEqual(ticket.history[0].comment, 'Not our area')
        ticket.department = department
        ticket.save()
        Ticket.dispatch([ticket])
        second = [d for d in ticket.dispatches if d.state == 'pending'][0]
        with Transaction().set_user(clerk.id):
            Dispatch.accept([second])
        self.assertEqual(Ticket(ticket.id).state, 'in_progress')

    @with_transaction()
    def test_followup(self):
        "The follow-up visit closes the ticket, or reopens it if unsolved"
        pool = Pool()
        Ticket = pool.get('cc.ticket')
        FollowUp = pool.get('cc.ticket.followup')
        type_ = self.type()
        ticket = self.ticket(type_)
        Ticket.accept([ticket])
        Ticket.resolve([ticket])
        followup, = ticket.followups
        timer, = [t for t in ticket.timers if t.kind == 'follow_up']
        self.assertEqual(timer.target_minutes, 24 * 60)
        self.assertEqual(followup.due_date, timer.deadline)
        with self.assertRaises(UserError):
            Ticket.close([ticket])
        with self.assertRaises(UserError):
            FollowUp.do([followup])
        followup.reached = 'reached'
        followup.satisfaction = '2'
        followup.solved = False
        followup.save()
        FollowUp.do([followup])
        ticket = Ticket(ticket.id)
        self.assertEqual(ticket.state, 'in_progress')
        self.assertEqual(ticket.reopen_count, 1)
        Ticket.resolve([ticket])
        followup = [f for f in ticket.followups if f.state == 'open'][0]
        followup.reached = 'reached'
        followup.satisfaction = '5'
        followup.solved = True
        followup.save()
        FollowUp.do([followup])
        self.assertEqual(Ticket(ticket.id).state, 'closed')

    @with_transaction()
    def test_record_rules(self):
        "Agents see their team's tickets, departments what they received"
        pool = Pool()
        Ticket = pool.get('cc.ticket')
        Department = pool.get('cc.department')
        alice = self.user('alice', 'cc_base.group_cc_agent')
        bob = self.user('bob', 'cc_base.group_cc_agent')
        clerk = self.user('clerk', 'cc_ticket.group_cc_department')
        boss = self.user('boss', 'cc_base.group_cc_supervisor')
        team_a, team_b = self.team('A', [alice]), self.team('B', [bob])
        department, = Department.create([{
                    'name': 'Billing', 'users': [('add', [clerk.id])]}])
        type_ = self.type()
        ticket_a = self.ticket(type_, team=team_a.id, owner=None)
        ticket_b = self.ticket(type_, team=team_b.id, owner=None)

        def visible(user):
            with Transaction().set_user(user.id), check_access():
                return set(Ticket.search([]))
        self.assertEqual(visible(alice), {ticket_a})
        self.assertEqual(visible(bob), {ticket_b})
        self.assertEqual(visible(clerk), set())
        self.assertEqual(visible(boss), {ticket_a, ticket_b})
        Ticket.accept([ticket_b])
        ticket_b.department = department
        ticket_b.save()
        Ticket.dispatch([ticket_b])
        self.assertEqual(visible(clerk), {ticket_b})

    @with_transaction()
    def test_partner_rpc(self):
        "Partner systems create tickets by type code"
        pool = Pool()
        Ticket = pool.get('cc.ticket')
        self.type()
        result = Ticket.create_from_partner({
                'type': 'complaint', 'subject': 'Web form',
                'contact_number': '13800138000'})
        ticket = Ticket(result['id'])
        self.assertEqual(ticket.number, result['number'])
        self.assertEqual(ticket.channel, 'web')
        status = Ticket.public_status(ticket.number, '13800138000')
        self.assertEqual(status['state'], 'new')
        self.assertIsNone(Ticket.public_status(ticket.number, '1'))
        with self.assertRaises(UserError):
            Ticket.create_from_partner({'type': 'nope', 'subject': 'x'})

    @with_transaction()
    def test_statistics_and_excel(self):
        "Statistics count tickets per type and export the same to Excel"
        from openpyxl import load_workbook
        pool = Pool()
        Ticket = pool.get('cc.ticket')
        Statistic = pool.get('cc.ticket.statistic')
        Export = pool.get('cc.ticket.statistic.export', type='wizard')
        type_ = self.type()
        party = self.party()
        tickets = [self.ticket(type_, party=party.id) for _ in range(3)]
        Ticket.accept(tickets[:1])
        Ticket.resolve(tickets[:1])
        Ticket.reopen(tickets[:1])
        row, = Statistic.search([])
        self.assertEqual(row.count, 3)
        self.assertEqual(row.second_contacts, 2)
        self.assertEqual(row.reopened, 1)
        self.assertEqual(row.compliance, 1)
        session_id, _, _ = Export.create()
        export = Export(session_id)
        export.start.from_date = dt.date.today() - dt.timedelta(days=1)
        export.start.to_date = dt.date.today()
        export.transition_export()
        book = load_workbook(BytesIO(export.result.file))
        rows = list(book.active.values)
        self.assertEqual(rows[0][5], 'Tickets')
        self.assertEqual(rows[1][5], 3)

    @with_transaction()
    def test_kb_articles(self):
        "Published articles matching the request are suggested and linked"
        pool = Pool()
        Article = pool.get('cc.kb.article')
        Ticket = pool.get('cc.ticket')
        article, draft = Article.create([{
                    'title': '宽带断网处理流程', 'body': '重启光猫，检查宽带账号'},
                {'title': '宽带断网草稿', 'body': '宽带'}])
        Article.submit([article])
        Article.publish([article])
        ticket = Ticket(subject='用户宽带断网', description=None)
        self.assertEqual(ticket.on_change_with_kb_suggestions(), [article.id])
        saved = self.ticket(self.type(), kb_articles=[('add', [article.id])])
        self.assertEqual(list(saved.kb_articles), [article])

    @with_transaction()
    def test_create_from_call(self):
        "The screen pop's Create Ticket prefills call, customer and number"
        pool = Pool()
        Call = pool.get('cc.call')
        Ticket = pool.get('cc.ticket')
        CreateTicket = pool.get('cc.ticket.create', type='wizard')
        party = self.party()
        call, = Call.create([{
                    'uniqueid': '1700000000.1', 'direction': 'inbound',
                    'caller_number': '+8613800138000', 'party': party.id}])
        session_id, _, _ = CreateTicket.create()
        wizard = CreateTicket(session_id)
        with Transaction().set_context(
                active_model='cc.call', active_id=call.id,
                active_ids=[call.id]):
            wizard = CreateTicket(session_id)
            defaults = wizard._defaults()
        self.assertEqual(defaults['call'], call.id)
        self.assertEqual(defaults['party'], party.id)
        self.assertEqual(defaults['contact_number'], '+8613800138000')
        ticket = self.ticket(self.type(), call=call.id, party=party.id)
        self.assertEqual(list(Call(call.id).tickets), [ticket])
        self.assertEqual(Ticket(ticket.id).call, call)

    @with_transaction()
    def test_calendar_model(self):
        "Named calendars build the engine; holidays and lines are applied"
        pool = Pool()
        Calendar = pool.get('cc.calendar')
        calendar, = Calendar.create([{
                    'name': '7x12', 'chinese_holidays': False,
                    'lines': [('create', [{
                                    'weekday': str(d),
                                    'start_time': dt.time(8),
                                    'end_time': dt.time(20)}
                                for d in range(7)])],
                    'days': [('create', [{
                                    'date': dt.date(2025, 6, 10),
                                    'kind': 'holiday'}])],
                    }])
        engine = Calendar.engine(calendar.id)
        self.assertFalse(engine.is_workday(dt.date(2025, 6, 10)))
        self.assertTrue(engine.is_workday(dt.date(2025, 10, 1)))
        self.assertEqual(engine.hours(dt.date(2025, 6, 14)), ((480, 1200),))
        with self.assertRaises(ValidationError):
            Calendar.write([calendar], {'lines': [('create', [{
                                'weekday': '0', 'start_time': dt.time(20),
                                'end_time': dt.time(8)}])]})

    @with_transaction()
    def test_email_through_smtp(self):
        "Breach emails go through trytond.sendmail to an SMTP server"
        sink = SMTPSink()
        self.addCleanup(sink.close)
        user = self.user('mail', 'cc_base.group_cc_agent', email='a@b.cn')
        ticket = self.ticket(self.type())
        with patch.object(gateway.config, 'get', side_effect=config_get(
                    {('email', 'uri'): sink.uri,
                        ('email', 'from'): 'cc@localhost'})):
            gateway.Notifier.email(user, 'SLA breached', [ticket])
            manager, = [m for m in Transaction()._datamanagers
                if isinstance(m, SMTPDataManager)]
            # What the commit of the transaction does.
            manager.tpc_vote(Transaction())
            manager.tpc_finish(Transaction())
        message, = sink.messages
        self.assertIn(b'a@b.cn', message)
        self.assertIn(ticket.number.encode(), message)

    @with_transaction()
    def test_sms_sent_at_commit(self):
        "SMS go through the configured gateway once the transaction commits"
        user = self.user('sms', 'cc_base.group_cc_agent',
            cc_mobile='+8613800138000')
        gateway.Notifier.sms(user, 'SLA breached')
        manager, = [m for m in Transaction()._datamanagers
            if isinstance(m, gateway.SMSDataManager)]
        before = len(gateway._LOG_GATEWAY.sent)
        manager.tpc_finish(Transaction())
        self.assertEqual(gateway._LOG_GATEWAY.sent[before:],
            [('+8613800138000', 'SLA breached')])


def config_get(values):
    original = gateway.config.get

    def get(section, option, default=None):
        return values.get((section, option), original(
                section, option, default=default))
    return get


class SMTPSink:
    "A minimal SMTP server on 127.0.0.1 that keeps what it receives."

    def __init__(self):
        self.messages = []
        sink = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                self.wfile.write(b'220 sink\r\n')
                data = None
                for line in self.rfile:
                    if data is not None:
                        if line == b'.\r\n':
                            sink.messages.append(b''.join(data))
                            data = None
                            self.wfile.write(b'250 OK\r\n')
                        else:
                            data.append(line)
                        continue
                    command = line[:4].upper()
                    if command == b'EHLO' or command == b'HELO':
                        self.wfile.write(b'250 sink\r\n')
                    elif command == b'DATA':
                        data = []
                        self.wfile.write(b'354 go\r\n')
                    elif command == b'QUIT':
                        self.wfile.write(b'221 bye\r\n')
                        return
                    else:
                        self.wfile.write(b'250 OK\r\n')
        self.server = socketserver.ThreadingTCPServer(('127.0.0.1', 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.uri = 'smtp://127.0.0.1:%s' % self.server.server_address[1]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class AliyunSMSTestCase(unittest.TestCase):
    "The Alibaba Cloud adapter against a local HTTP endpoint"

    def setUp(self):
        self.requests = []
        self.reply = {'Code': 'OK', 'BizId': '42'}
        test = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                test.requests.append(self.path)
                body = json.dumps(test.reply).encode()
                self.send_response(200)
                self.send_header('Content-Type', 'application/json')
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass
        self.server = HTTPServer(('127.0.0.1', 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.addCleanup(self.server.server_close)
        self.addCleanup(self.server.shutdown)
        self.gateway = gateway.AliyunSMSGateway(
            'key-id', 'secret', '客服中心', 'SMS_1',
            endpoint='http://127.0.0.1:%s' % self.server.server_address[1])

    def test_send_signed(self):
        self.assertEqual(self.gateway.send('+8613800138000', '工单超时'), '42')
        query = dict(parse_qsl(urlparse(self.requests[0]).query))
        signature = query.pop('Signature')
        self.assertEqual(query['PhoneNumbers'], '13800138000')
        self.assertEqual(json.loads(query['TemplateParam']),
            {'content': '工单超时'})
        # The signature is the documented HMAC-SHA1 of the sorted query.
        self.assertEqual(self.gateway.sign(query)[0], signature)

    def test_known_signature(self):
        "Signature of Alibaba Cloud's documented example request"
        gw = gateway.AliyunSMSGateway(
            'testId', 'testSecret', '阿里云短信测试专用', 'SMS_71390007')
        params = gw.parameters(
            '15300000001', 'x', nonce='45e25e9b-0a6f-4070-8c85-2956eda1b466',
            now=dt.datetime(2017, 7, 12, 2, 42, 19))
        params.update({
                'TemplateParam': '{"customer":"test"}', 'OutId': '123',
                'PhoneNumbers': '15300000001', 'Format': 'XML'})
        self.assertEqual(
            gw.sign(params)[0], 'zJDF+Lrzhj/ThnlvIToysFRq6t4=')

    def test_error(self):
        self.reply = {'Code': 'isv.BUSINESS_LIMIT_CONTROL', 'Message': 'limit'}
        with self.assertRaises(gateway.SMSError):
            self.gateway.send('+8613800138000', 'x')

    def test_configured_gateway(self):
        self.assertIsInstance(
            gateway.get_sms_gateway(), gateway.LoggingSMSGateway)


del ModuleTestCase
