"""Ticket statistics by month, type, channel, team and department, as a
graph/pivot model and as an Excel workbook (TKT-12, TKT-19)."""
import datetime as dt
from io import BytesIO

from sql import Literal, Null
from sql.aggregate import Avg, Count, Max, Min, Sum
from sql.conditionals import Case
from sql.functions import DateTrunc

from trytond.model import ModelSQL, ModelView, fields
from trytond.pool import Pool
from trytond.transaction import Transaction
from trytond.wizard import Button, StateTransition, StateView, Wizard

# Columns of the workbook, in order: (field, header message id).
COLUMNS = [
    'month', 'type', 'channel', 'team', 'department',
    'count', 'resolved', 'breached', 'compliance', 'reopened',
    'reopen_rate', 'second_contacts', 'second_contact_rate',
    'average_resolution_minutes', 'average_satisfaction',
    ]


class TicketStatistic(ModelSQL, ModelView):
    __string__ = "Ticket Statistics"
    __name__ = 'cc.ticket.statistic'
    month = fields.Date("Month")
    type = fields.Many2One('cc.ticket.type', "Type")
    channel = fields.Selection('get_channels', "Channel")
    channel_string = channel.translated('channel')
    team = fields.Many2One('cc.team', "Team")
    department = fields.Many2One('cc.department', "Department")
    count = fields.Integer("Tickets")
    resolved = fields.Integer("Resolved")
    breached = fields.Integer("Breached")
    compliance = fields.Float("SLA Compliance", digits=(3, 4))
    reopened = fields.Integer("Reopened")
    reopen_rate = fields.Float("Reopen Rate", digits=(3, 4))
    second_contacts = fields.Integer("Second Contacts")
    second_contact_rate = fields.Float("Second Contact Rate", digits=(3, 4))
    average_resolution_minutes = fields.Float(
        "Average Resolution (business minutes)", digits=(16, 1))
    satisfaction_count = fields.Integer("Rated Follow-ups")
    average_satisfaction = fields.Float("Average Satisfaction", digits=(2, 2))

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('month', 'DESC'), ('count', 'DESC'), ('id', 'ASC')]

    @classmethod
    def get_channels(cls):
        return Pool().get('cc.ticket').get_channels()

    @classmethod
    def table_query(cls):
        pool = Pool()
        Ticket = pool.get('cc.ticket')
        FollowUp = pool.get('cc.ticket.followup')
        ticket = Ticket.__table__()
        followup = FollowUp.__table__()
        context = Transaction().context

        rated = followup.select(
            followup.ticket,
            Max(followup.satisfaction).as_('satisfaction'),
            where=(followup.state == 'done')
            & (followup.satisfaction != Null),
            group_by=[followup.ticket])
        month = DateTrunc('month', ticket.create_date)
        where = Literal(True)
        if context.get('from_date'):
            where &= ticket.create_date >= dt.datetime.combine(
                context['from_date'], dt.time())
        if context.get('to_date'):
            where &= ticket.create_date < dt.datetime.combine(
                context['to_date'] + dt.timedelta(days=1), dt.time())

        # Months are computed in a sub-query and grouped on its column:
        # PostgreSQL does not see DATE_TRUNC($1, …) in SELECT and
        # DATE_TRUNC($2, …) in GROUP BY as the same expression.
        float_ = cls.compliance.sql_type().base
        base = ticket.join(rated, 'LEFT',
            condition=rated.ticket == ticket.id).select(
            ticket.id, cls.month.sql_cast(month).as_('month'),
            ticket.type, ticket.channel, ticket.team, ticket.department,
            ticket.sla_status, ticket.reopen_count, ticket.second_contact,
            ticket.resolve_date, ticket.resolution_minutes,
            rated.satisfaction.cast(float_).as_('satisfaction'),
            where=where)

        def flag(condition):
            return Sum(Case((condition, 1), else_=0))

        count = Count(base.id)
        breached = flag(base.sla_status == 'breached')
        reopened = flag(base.reopen_count > 0)
        second = flag(base.second_contact == Literal(True))
        return base.select(
            Min(base.id).as_('id'),
            base.month, base.type, base.channel, base.team, base.department,
            count.as_('count'),
            flag(base.resolve_date != Null).as_('resolved'),
            breached.as_('breached'),
            (Literal(1) - breached / count.cast(float_)).as_('compliance'),
            reopened.as_('reopened'),
            (reopened / count.cast(float_)).as_('reopen_rate'),
            second.as_('second_contacts'),
            (second / count.cast(float_)).as_('second_contact_rate'),
            Avg(base.resolution_minutes).as_('average_resolution_minutes'),
            Count(base.satisfaction).as_('satisfaction_count'),
            Avg(base.satisfaction).as_('average_satisfaction'),
            group_by=[base.month, base.type, base.channel, base.team,
                base.department])


class StatisticContext(ModelView):
    __string__ = "Ticket Statistics Context"
    __name__ = 'cc.ticket.statistic.context'
    from_date = fields.Date("From")
    to_date = fields.Date("To")

    @classmethod
    def default_from_date(cls):
        today = dt.date.today()
        return (today.replace(day=1) - dt.timedelta(days=1)).replace(day=1)

    @classmethod
    def default_to_date(cls):
        return dt.date.today()


class ExportStatistic(Wizard):
    __string__ = "Export Ticket Statistics"
    __name__ = 'cc.ticket.statistic.export'
    start = StateView('cc.ticket.statistic.context',
        'cc_ticket.statistic_context_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Export", 'export', 'tryton-ok', default=True),
            ])
    export = StateTransition()
    result = StateView('cc.ticket.statistic.export.result',
        'cc_ticket.statistic_export_result_view_form', [
            Button("Close", 'end', 'tryton-close', default=True),
            ])

    def transition_export(self):
        with Transaction().set_context(
                from_date=self.start.from_date, to_date=self.start.to_date):
            self.result.file = workbook(
                Pool().get('cc.ticket.statistic').search([]))
        self.result.filename = 'ticket-statistics-%s-%s.xlsx' % (
            self.start.from_date or '', self.start.to_date or '')
        return 'result'

    def default_result(self, fields):
        return {'file': self.result.file, 'filename': self.result.filename}


class ExportStatisticResult(ModelView):
    __string__ = "Export Ticket Statistics"
    __name__ = 'cc.ticket.statistic.export.result'
    file = fields.Binary("File", filename='filename', readonly=True)
    filename = fields.Char("File Name", readonly=True)


def workbook(rows):
    """An .xlsx of the statistics rows (same figures as the pivot view),
    headers in the user's language."""
    from openpyxl import Workbook
    from openpyxl.utils import get_column_letter
    Statistic = Pool().get('cc.ticket.statistic')
    descriptions = Statistic.fields_get(COLUMNS)
    book = Workbook()
    sheet = book.active
    sheet.title = 'Tickets'
    sheet.append([descriptions[c]['string'] for c in COLUMNS])
    for row in rows:
        values = []
        for column in COLUMNS:
            value = getattr(row, column)
            if column == 'channel':
                value = row.channel_string
            elif hasattr(value, 'rec_name'):
                value = value.rec_name
            values.append(value)
        sheet.append(values)
    for index, column in enumerate(COLUMNS, 1):
        sheet.column_dimensions[get_column_letter(index)].width = 16
    sheet.freeze_panes = 'A2'
    data = BytesIO()
    book.save(data)
    return data.getvalue()
