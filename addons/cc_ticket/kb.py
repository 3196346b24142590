"""Knowledge-base articles (cc_base) linked to and suggested on tickets."""
from trytond.model import ModelSQL, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval


class TicketArticle(ModelSQL):
    __string__ = "Ticket - Knowledge Article"
    __name__ = 'cc.ticket-cc.kb.article'
    ticket = fields.Many2One(
        'cc.ticket', "Ticket", required=True, ondelete='CASCADE')
    article = fields.Many2One(
        'cc.kb.article', "Article", required=True, ondelete='RESTRICT')


class Ticket(metaclass=PoolMeta):
    __name__ = 'cc.ticket'
    kb_articles = fields.Many2Many(
        'cc.ticket-cc.kb.article', 'ticket', 'article', "Knowledge Articles",
        domain=[('state', '=', 'published')],
        states={'readonly': Eval('state') == 'closed'},
        help="Articles used to answer the customer.")
    kb_suggestions = fields.Function(fields.Many2Many(
            'cc.kb.article', None, None, "Suggested Articles",
            help="Published articles matching the subject and description."),
        'on_change_with_kb_suggestions')

    @fields.depends('subject', 'description')
    def on_change_with_kb_suggestions(self, name=None):
        Article = Pool().get('cc.kb.article')
        query = ' '.join(filter(None, [
                    self.subject, getattr(self, 'description', None)]))
        if not query.strip():
            return []
        return [a['id'] for a in Article.search_text(query, limit=5)]

    @classmethod
    def copy(cls, tickets, default=None):
        default = default.copy() if default else {}
        default.setdefault('kb_articles', None)
        return super().copy(tickets, default=default)
